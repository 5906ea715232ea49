/**
 * A tiny authoritative DNS server for tests (UDP, A records only): answers the names it is
 * given, NXDOMAIN for the rest, and records every question. Tests point hull's forwarding at
 * it, so no query ever leaves the machine.
 */
import { createSocket, type Socket } from 'node:dgram';

export interface TestDns {
  address: string;
  /** Names asked, lower case, without the trailing dot. */
  questions: string[];
  close(): Promise<void>;
}

function readName(msg: Buffer, offset: number): { name: string; end: number } {
  const labels: string[] = [];
  let i = offset;
  while (i < msg.length && msg[i] !== 0) {
    const len = msg[i]!;
    labels.push(msg.subarray(i + 1, i + 1 + len).toString('latin1'));
    i += 1 + len;
  }
  return { name: labels.join('.').toLowerCase(), end: i + 1 };
}

function answer(query: Buffer, records: Record<string, string>): { reply: Buffer; name: string } {
  const { name, end } = readName(query, 12);
  const qtype = query.readUInt16BE(end);
  const question = query.subarray(12, end + 4);
  const ip = records[name];
  const header = Buffer.alloc(12);
  query.copy(header, 0, 0, 2);
  const found = ip !== undefined;
  // QR, opcode 0, AA, RD copied; RA; rcode 0 or 3 (NXDOMAIN).
  header.writeUInt16BE(0x8400 | (query.readUInt16BE(2) & 0x0100) | 0x0080 | (found ? 0 : 3), 2);
  header.writeUInt16BE(1, 4);
  const withAnswer = found && qtype === 1;
  header.writeUInt16BE(withAnswer ? 1 : 0, 6);
  const parts = [header, question];
  if (withAnswer) {
    const rr = Buffer.alloc(16);
    rr.writeUInt16BE(0xc00c, 0);
    rr.writeUInt16BE(1, 2);
    rr.writeUInt16BE(1, 4);
    rr.writeUInt32BE(5, 6);
    rr.writeUInt16BE(4, 10);
    ip.split('.').forEach((o, k) => rr.writeUInt8(Number(o), 12 + k));
    parts.push(rr);
  }
  return { reply: Buffer.concat(parts), name };
}

export async function startTestDns(address: string, records: Record<string, string>): Promise<TestDns> {
  const sock: Socket = createSocket('udp4');
  const questions: string[] = [];
  sock.on('message', (msg, rinfo) => {
    try {
      const { reply, name } = answer(msg, records);
      questions.push(name);
      sock.send(reply, rinfo.port, rinfo.address);
    } catch {
      // malformed: ignore
    }
  });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(53, address, () => resolve());
  });
  return { address, questions, close: () => new Promise((r) => sock.close(() => r())) };
}
