// test/kube/apiserver.ts's API server as a process of its own, so that it can run inside a lab
// namespace (where the agent reaches it at 127.0.0.1) and be killed and started again like a
// real kube-apiserver. `ip netns exec NS node apiserver-child.js PORT COREDNS_IP`: HTTPS with
// the fixture certificate (127.0.0.1) on PORT; the recorded CoreDNS list with its first pod
// moved to COREDNS_IP (the lab's DNS server), the recorded list of node worker-1; watches held
// open, each sent a bookmark once it is open. Prints "listening", then one JSON line per request
// ({stream, watch}).

import { ApiServer, fixture } from '../kube/apiserver';

async function main(): Promise<void> {
  const [port, ip] = process.argv.slice(2);
  const list = JSON.parse(fixture('coredns-list.json')) as { items: Array<{ status: { podIP: string; podIPs: { ip: string }[] } }> };
  list.items[0].status.podIP = ip;
  list.items[0].status.podIPs = [{ ip }];
  const server = await ApiServer.start({ port: Number(port), tls: { key: fixture('tls/apiserver.key'), cert: fixture('tls/apiserver.crt') } });
  server.reply('coredns', 'list', { json: JSON.stringify(list) });
  server.reply('node', 'list', { json: fixture('node-list.json') });
  const seen = server.seen.push.bind(server.seen);
  server.seen.push = (...s) => {
    for (const x of s) {
      process.stdout.write(JSON.stringify({ stream: x.stream, watch: x.watch }) + '\n');
      // A bookmark on every watch soon after it opens, as kube-apiserver sends them (with
      // allowWatchBookmarks) to say the watch is alive at a resourceVersion.
      const rv = x.query.get('resourceVersion');
      if (x.watch && x.stream !== null && rv) {
        const line = JSON.stringify({ type: 'BOOKMARK', object: { kind: 'Pod', apiVersion: 'v1', metadata: { resourceVersion: rv } } });
        setTimeout(() => server.send(x.stream!, line), 100);
      }
    }
    return seen(...s);
  };
  process.stdout.write('listening\n');
}

void main();
