// Loopback listeners, one per node, whose connections reach the node's nats-server through the
// SSH connection the fleet holds at that moment. A listener outlives SSH reconnects (its port
// stays the same); while the node has no SSH connection it refuses by closing at once.
import { createServer, type Server, type Socket } from 'node:net';
import type { SshSession } from '../ssh/ssh-session';
import type { NatsEndpoint } from './event-link';

export class NatsTunnels {
  private servers = new Map<string, Promise<{ server: Server; port: number }>>();

  constructor(
    private session: (nodeId: string) => SshSession | null,
    private remotePort: (nodeId: string) => number,
  ) {}

  async endpoint(nodeId: string): Promise<NatsEndpoint> {
    let s = this.servers.get(nodeId);
    if (!s) {
      s = this.listen(nodeId);
      this.servers.set(nodeId, s);
    }
    return { host: '127.0.0.1', port: (await s).port };
  }

  async close(nodeId: string): Promise<void> {
    const s = this.servers.get(nodeId);
    this.servers.delete(nodeId);
    if (s) (await s).server.close();
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.servers.keys()].map((id) => this.close(id)));
  }

  private listen(nodeId: string): Promise<{ server: Server; port: number }> {
    const server = createServer((sock) => void this.pipe(nodeId, sock));
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const addr = server.address();
        resolve({ server, port: typeof addr === 'object' && addr ? addr.port : 0 });
      });
    });
  }

  private async pipe(nodeId: string, sock: Socket): Promise<void> {
    sock.setNoDelay(true);
    sock.on('error', () => sock.destroy());
    const ssh = this.session(nodeId);
    if (!ssh) return void sock.destroy();
    try {
      const channel = await ssh.openChannel('127.0.0.1', this.remotePort(nodeId));
      sock.pipe(channel).pipe(sock);
      channel.on('error', () => sock.destroy());
      channel.on('close', () => sock.destroy());
      sock.on('close', () => channel.destroy());
    } catch {
      sock.destroy();
    }
  }
}
