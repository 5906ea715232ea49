/* A sealed in-memory copy of a file: see sealed-copy.h. */
#define _GNU_SOURCE
#include "sealed-copy.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif
#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#endif

int sealed_copy(const char *path, const char *name, int exec)
{
	int src = open(path, O_RDONLY | O_CLOEXEC);
	if (src < 0)
		return -1;
	/* Linux 6.3+ wants the memfd's exec bit said; older kernels refuse the flag. */
	unsigned flags = MFD_CLOEXEC | MFD_ALLOW_SEALING;
	int fd = memfd_create(name, flags | (exec ? MFD_EXEC : MFD_NOEXEC_SEAL));
	if (fd < 0 && errno == EINVAL)
		fd = memfd_create(name, flags);
	struct stat st;
	if (fd < 0 || fstat(src, &st) < 0)
		goto fail;
	off_t off = 0;
	while (off < st.st_size) {
		ssize_t n = sendfile(fd, src, &off, (size_t)(st.st_size - off));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			goto fail;
		}
	}
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
		goto fail;
	close(src);
	return fd;
fail:;
	int e = errno;
	close(src);
	if (fd >= 0)
		close(fd);
	errno = e;
	return -1;
}
