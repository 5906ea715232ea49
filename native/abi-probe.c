// Which system-call ABIs the running kernel executes, for the seccomp filter's architecture
// list (src/container/spec/host-abis.ts). An x86_64 kernel may run 32-bit (ia32, `int 0x80`) and
// x32 (syscall numbers with bit 30 set) calls, each only when built in and enabled at boot
// (`ia32_emulation=`, `syscall.x32=`). libseccomp compiles every listed ABI into the filter, at
// a real cost per container start (~7 ms each under runc 1.1): an ABI the kernel refuses is
// left out.
//
// Each probe runs in a vfork child, so that a signal (a kernel that refuses `int 0x80` raises
// SIGSEGV; a seccomp filter hull itself runs under may raise SIGSYS) ends the child, never
// the engine. The child shares memory with node but not signal handlers (no CLONE_SIGHAND):
// it resets SIGSEGV/SIGSYS to their default before the probe and touches nothing else.
#define _GNU_SOURCE
#include "abi-probe.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__x86_64__)
#define X32_SYSCALL_BIT 0x40000000L
#define IA32_NR_GETPID 20L

static long x32_getpid(void) {
  return syscall(X32_SYSCALL_BIT | SYS_getpid);
}

static long ia32_getpid(void) {
  long ret;
  __asm__ volatile("int $0x80" : "=a"(ret) : "a"(IA32_NR_GETPID) : "memory");
  return ret;
}

// True when `call` returns a pid (not -1 or -ENOSYS) in a child that survives it.
static bool probe(long (*call)(void)) {
  pid_t pid = vfork();
  if (pid < 0) return true; // cannot tell: keep the ABI (Docker's list)
  if (pid == 0) {
    signal(SIGSEGV, SIG_DFL);
    signal(SIGSYS, SIG_DFL);
    _exit(call() > 0 ? 0 : 1);
  }
  int status;
  while (waitpid(pid, &status, __WALL) < 0) {
    if (errno != EINTR) return true;
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}
#endif

// kernelAbis(): { x32: boolean, ia32: boolean } on x86_64; {} elsewhere (nothing is probed).
static napi_value abi_probe_kernel_abis(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
  if (napi_create_object(env, &out) != napi_ok) return NULL;
#if defined(__x86_64__)
  napi_value x32, ia32;
  if (napi_get_boolean(env, probe(x32_getpid), &x32) != napi_ok) return NULL;
  if (napi_get_boolean(env, probe(ia32_getpid), &ia32) != napi_ok) return NULL;
  if (napi_set_named_property(env, out, "x32", x32) != napi_ok) return NULL;
  if (napi_set_named_property(env, out, "ia32", ia32) != napi_ok) return NULL;
#endif
  return out;
}

napi_status abi_probe_define(napi_env env, napi_value exports) {
  static const napi_property_descriptor props[] = {
      HN_METHOD("kernelAbis", abi_probe_kernel_abis),
  };
  return HN_DEFINE(env, exports, props);
}
