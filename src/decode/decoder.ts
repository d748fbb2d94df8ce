// Decodes one captured frame, every layer down to DNS, into a reused Frame view (the shape of
// gopacket's DecodingLayerParser: fixed layers, preallocated, no allocation per packet).
//
// Order matters for one check: the outer UDP checksum of a tunnel (VXLAN, Geneve) is verified after the inner
// transport checksum, because when the inner one is partial the sender computed the outer one as
// if the inner were complete (local checksum offload, Linux Documentation/networking/checksum-offloads.rst).

import { BAD_PSEUDO_ONLY, completedField, Csum, fold, verifyTransport } from './checksum';
import { decodeDns } from './dns';
import { decodeEthernet, decodeNull, decodeRaw, decodeSll, decodeSll2, ETHERTYPE_IPV4, ETHERTYPE_IPV6, LinkView } from './ethernet';
import { DIR_RX, ENCAP_LAYER_BASE, ENCAP_NONE, FRAG_FIRST, FRAG_LATER, Frame, Layer, LAYER_COUNT, Stack } from './frame';
import { decodeGeneve, GENEVE_PROTO_ETHERNET, GeneveView } from './geneve';
import { decodeIPv4 } from './ipv4';
import { decodeIPv6 } from './ipv6';
import { Status } from './status';
import { decodeTcp } from './tcp';
import { decodeUdp } from './udp';
import { decodeVxlan, VXLAN_HEADER_LEN } from './vxlan';

export const LINKTYPE_NULL = 0;
export const LINKTYPE_ETHERNET = 1;
export const LINKTYPE_RAW = 101;
export const LINKTYPE_LINUX_SLL = 113;
export const LINKTYPE_IPV4 = 228;
export const LINKTYPE_IPV6 = 229;
export const LINKTYPE_LINUX_SLL2 = 276;
// Some systems write raw IP as DLT 12 or 14 (OpenBSD, old libpcap).
const LINKTYPE_RAW_ALT1 = 12;
const LINKTYPE_RAW_ALT2 = 14;

const PROTO_TCP = 6;
const PROTO_UDP = 17;

export const DEFAULT_VXLAN_PORTS: readonly number[] = [4789, 8472];
export const DEFAULT_GENEVE_PORTS: readonly number[] = [6081];
export const DEFAULT_DNS_PORTS: readonly number[] = [53];

/** Which tunnel a UDP destination port carries (decodeTunnelPayload's kind). */
const TUNNEL_VXLAN = 1;
const TUNNEL_GENEVE = 2;

export interface DecoderOptions {
  /** UDP destination ports decoded as VXLAN; default 4789 (IANA, Calico, Cilium) and 8472 (flannel, Linux default). */
  vxlanPorts?: readonly number[];
  /** UDP destination ports decoded as Geneve (RFC 8926); default 6081 (IANA: OVN-Kubernetes, Antrea, Cilium). */
  genevePorts?: readonly number[];
  /** UDP ports decoded as DNS (either end); default 53. */
  dnsPorts?: readonly number[];
  /**
   * The capturing interface's MTU, for frames the kernel said nothing of (files): a received IP
   * packet longer than this was merged by GRO, and its checksum fields may hold only the
   * pseudo-header sum (partial, not bad). Default 1500; 0 turns the rule off.
   */
  mtu?: number;
}

/**
 * Tunnel headers (VXLAN or Geneve, in any mix) followed, the outer one included: DNS is found up
 * to three tunnels deep.
 */
const MAX_VXLAN_DEPTH = 3;

/** The MTU assumed for the GRO rule where the capturing interface's is unknown. */
export const DEFAULT_MTU = 1500;

/** Kernel checksum status of a frame (the live capture's record meta, src/capture/source.ts). */
export const KSTATUS_CSUM_NOTREADY = 0x4;
export const KSTATUS_CSUM_VALID = 0x8;
/** The kernel's status is known (neither bit above: no partial checksum), so the MTU rule is off. */
export const KSTATUS_KNOWN = 0x10;

function portSet(ports: readonly number[]): Uint8Array {
  const set = new Uint8Array(65536);
  for (const p of ports) {
    if (!Number.isInteger(p) || p < 1 || p > 65535) throw new RangeError(`port out of range: ${p}`);
    set[p] = 1;
  }
  return set;
}

export class Decoder {
  private readonly vxlanPorts: Uint8Array;
  private readonly genevePorts: Uint8Array;
  private readonly geneve = new GeneveView();
  private readonly dnsPorts: Uint8Array;
  private readonly link = new LinkView();
  private readonly mtu: number;
  /** Where the IPv4 header checksums of stacks below the vxlan.* layers go (not reported). */
  private readonly nestedCsum = new Int8Array(LAYER_COUNT);
  /** Stacks below the vxlan.* layers, by depth (decodeVxlanPayload), and the one DNS was found in. */
  private readonly nested = Array.from({ length: MAX_VXLAN_DEPTH + 1 }, () => new Stack());
  private dnsAt: Stack | null = null;
  /** The frame being decoded: above this an IPv4 total length of 0 is TSO's or BIG TCP's. */
  private tsoMtu = 0xffff;

  constructor(opts: DecoderOptions = {}) {
    this.mtu = opts.mtu ?? DEFAULT_MTU;
    this.vxlanPorts = portSet(opts.vxlanPorts ?? DEFAULT_VXLAN_PORTS);
    this.genevePorts = portSet(opts.genevePorts ?? DEFAULT_GENEVE_PORTS);
    this.dnsPorts = portSet(opts.dnsPorts ?? DEFAULT_DNS_PORTS);
  }

  /**
   * Decodes the frame captured at b[off, end), wireLen bytes long on the wire, into f.
   * kstatus: what the kernel said of its checksums (KSTATUS_*; 0 when nothing, as in a file).
   * mtu: the capturing interface's MTU when known (overrides the decoder's, for the length rule
   * applied when the kernel said nothing). Reads nothing at or past end. Returns f.status.
   */
  decode(b: Uint8Array, off: number, end: number, wireLen: number, linkType: number, dir: number, f: Frame, kstatus = 0, mtu = this.mtu): Status {
    f.reset(dir);
    f.offloadPending = (kstatus & KSTATUS_CSUM_NOTREADY) !== 0;
    const wireEnd = off + (wireLen > end - off ? wireLen : end - off);
    const v = this.link;
    let st: Status;
    switch (linkType) {
      case LINKTYPE_ETHERNET: st = decodeEthernet(b, off, end, wireEnd, v); break;
      case LINKTYPE_LINUX_SLL: st = decodeSll(b, off, end, wireEnd, v, f); break;
      case LINKTYPE_LINUX_SLL2: st = decodeSll2(b, off, end, wireEnd, v, f); break;
      case LINKTYPE_RAW: case LINKTYPE_RAW_ALT1: case LINKTYPE_RAW_ALT2: st = decodeRaw(b, off, end, wireEnd, v); break;
      case LINKTYPE_IPV4: v.l3Offset = off; v.ethertype = ETHERTYPE_IPV4; v.tags = 0; st = Status.OK; break;
      case LINKTYPE_IPV6: v.l3Offset = off; v.ethertype = ETHERTYPE_IPV6; v.tags = 0; st = Status.OK; break;
      case LINKTYPE_NULL: st = decodeNull(b, off, end, wireEnd, v); break;
      default: st = Status.LINK_TYPE_UNSUPPORTED;
    }
    if (st !== Status.OK) return (f.status = st);
    f.vlanTags = v.tags;
    // An IPv4 length of 0 past the MTU is TSO's on a sending host; received, only BIG TCP's
    // GRO (past 64 KiB) writes it.
    this.tsoMtu = f.dir !== DIR_RX && mtu > 0 ? mtu : 0xffff;
    // Longer than the MTU and received: GRO merged it (the kernel's mark is lost in a file).
    if (kstatus === 0 && f.dir === DIR_RX && mtu > 0 && wireEnd - v.l3Offset > mtu) f.offloadPending = true;
    this.dnsAt = null;
    f.status = this.decodeStack(b, v.l3Offset, v.ethertype, end, wireEnd, f.outer, false, f);
    // DNS found in a tunnel inside the tunnel: its own addresses key the transaction.
    if (this.dnsAt !== null) f.inner.copyFrom(this.dnsAt);
    return f.status;
  }

  /** The tunnel a UDP datagram from srcPort to dstPort carries, or 0. */
  private tunnelOf(srcPort: number, dstPort: number): number {
    // To a tunnel port, but from a DNS port: a DNS answer to a client whose ephemeral port is
    // 4789, 6081 or 8472 (a widened ip_local_port_range). A tunnel's source port is a flow hash
    // in the ephemeral range (RFC 7348 §5, RFC 8926 §3.3), never 53.
    if (this.dnsPorts[srcPort] === 1) return 0;
    if (this.vxlanPorts[dstPort] === 1) return TUNNEL_VXLAN;
    if (this.genevePorts[dstPort] === 1) return TUNNEL_GENEVE;
    return 0;
  }

  /**
   * Decodes IP, transport, and a tunnel (VXLAN, Geneve) or DNS above it. inner: this stack is
   * inside a tunnel. depth: how many tunnel headers enclose it (0 outer, 1 the vxlan.* or geneve.*
   * layers, as f.encap says). Deeper stacks (a tunnel in the tunnel, up to MAX_VXLAN_DEPTH) are
   * decoded into f.inner to find DNS at any depth, as the contract says; their checksums have no
   * layer of their own and are not recorded.
   */
  private decodeStack(b: Uint8Array, o: number, ethertype: number, end: number, wireEnd: number, s: Stack, inner: boolean, f: Frame, depth = inner ? 1 : 0): Status {
    let st: Status;
    const csum = depth > 1 ? this.nestedCsum : f.csum;
    // The layers of this stack: the plain ones, or the tunnel's (vxlan.*, geneve.*) inside it.
    const base = inner ? ENCAP_LAYER_BASE[f.encap] : Layer.IPV4;
    if (ethertype === ETHERTYPE_IPV4) st = decodeIPv4(b, o, end, wireEnd, s, csum, base, this.tsoMtu);
    else if (ethertype === ETHERTYPE_IPV6) st = decodeIPv6(b, o, end, wireEnd, s);
    else return Status.NOT_IP;
    if (st !== Status.OK || s.fragment === FRAG_LATER) return st;

    const dEnd = s.ipEnd;
    const capEnd = dEnd < end ? dEnd : end;
    const allowPartial = f.dir !== DIR_RX || f.offloadPending;
    if (s.proto === PROTO_UDP) {
      st = decodeUdp(b, capEnd, dEnd, s, s.fragment === FRAG_FIRST);
      if (st !== Status.OK) return st;
      // The payload ends at the UDP length on the wire; a first fragment's payload is cut at the
      // fragment's end, which the payload decoders must see as a short capture, not a lie.
      const payEnd = s.l4End < capEnd ? s.l4End : capEnd;
      const payWireEnd = s.l4End;
      const tunnel = depth < MAX_VXLAN_DEPTH ? this.tunnelOf(s.srcPort, s.dstPort) : 0;
      if (!inner && tunnel !== 0) {
        st = this.decodeTunnelPayload(b, s.l4Offset + 8, payEnd, payWireEnd, f, 1, tunnel);
        this.verifyOuterUdp(b, capEnd, s, f, allowPartial);
        return st;
      }
      // A zero UDP checksum: legal over IPv4; over IPv6 only on a tunnel's outer header, RFC 6935.
      const zero = s.ipVersion === 4 ? Csum.NONE : Csum.BAD;
      if (depth <= 1) this.record(f, base + (Layer.UDP - Layer.IPV4), verifyTransport(b, s, capEnd, zero, allowPartial));
      if (tunnel !== 0) {
        // A tunnel inside the tunnel (a nested overlay, or a tunnel carried through another).
        return this.decodeTunnelPayload(b, s.l4Offset + 8, payEnd, payWireEnd, f, depth + 1, tunnel);
      }
      if (this.dnsPorts[s.dstPort] === 1 || this.dnsPorts[s.srcPort] === 1) {
        st = decodeDns(b, s.l4Offset + 8, payEnd, payWireEnd, f.dns);
        f.dns.inner = inner;
        if (depth > 1) this.dnsAt = s;
        return st;
      }
      return Status.OK;
    }
    if (s.proto === PROTO_TCP) {
      st = decodeTcp(b, capEnd, dEnd, s);
      if (st !== Status.OK) return st;
      if (depth <= 1) this.record(f, base + (Layer.TCP - Layer.IPV4), verifyTransport(b, s, capEnd, -1, allowPartial));
      if (this.dnsPorts[s.dstPort] === 1 || this.dnsPorts[s.srcPort] === 1) {
        // DNS over TCP: a stream of messages, each a 2-byte length and the message (RFC 7766
        // §8). A segment alone is no unit of DNS: it may start mid-message, or end in one that a
        // later segment completes. So the segment's payload is handed on (f.dns.tcpPayload) for
        // the correlator to read as a stream, and the decoder only reads the first message here
        // when the segment starts with a whole one; more may follow (pipelining: f.dns.tcpNext).
        // Bytes that do not decode as DNS are no error of the packet's: only a segment cut by
        // the capture's snap length is truncated.
        // Every segment, payload or not: the stream reader needs the handshake (SYN: where a
        // connection's stream starts) and its end (FIN, RST) as much as the data.
        const p = s.l4Offset + ((b[s.l4Offset + 12] >> 4) << 2);
        const segEnd = dEnd < capEnd ? dEnd : capEnd;
        if (p > segEnd) return Status.OK;
        const d = f.dns;
        d.inner = inner;
        if (depth > 1) this.dnsAt = s;
        d.tcpPayload = p;
        d.tcpPayloadEnd = segEnd;
        d.tcpSeq = ((b[s.l4Offset + 4] << 24) | (b[s.l4Offset + 5] << 16) | (b[s.l4Offset + 6] << 8) | b[s.l4Offset + 7]) >>> 0;
        d.tcpFlags = b[s.l4Offset + 13];
        d.tcpWhole = capEnd >= dEnd;
        if (p + 2 > segEnd) return d.tcpWhole ? Status.OK : Status.TRUNCATED; // a handshake, an ACK, one byte
        const msgEnd = p + 2 + ((b[p] << 8) | b[p + 1]);
        // A first message that ends in this segment; cut by the snap length, its header and
        // question may still be there.
        if (msgEnd <= dEnd && decodeDns(b, p + 2, msgEnd < capEnd ? msgEnd : capEnd, msgEnd, d) === Status.OK) {
          if (msgEnd + 2 <= segEnd) {
            d.tcpNext = msgEnd;
            d.tcpEnd = segEnd;
          }
          return Status.OK;
        }
        d.present = false;
        d.keyed = false;
        return d.tcpWhole ? Status.OK : Status.TRUNCATED;
      }
    }
    return Status.OK;
  }

  /**
   * The tunnel header at o (kind: TUNNEL_VXLAN or TUNNEL_GENEVE) and the frame it carries. depth:
   * how many tunnel headers enclose the stack decoded here (1: the first tunnel, whose stack is
   * f.inner and its layers vxlan.* or geneve.*). Deeper stacks go into the decoder's own; the one
   * DNS is found in replaces f.inner at the end of decode(), so that DNS is keyed by its own
   * addresses.
   */
  private decodeTunnelPayload(b: Uint8Array, o: number, capEnd: number, dEnd: number, f: Frame, depth: number, kind: number): Status {
    const top = depth === 1 ? f : null;
    const v = this.link;
    let st: Status;
    if (kind === TUNNEL_VXLAN) {
      st = decodeVxlan(b, o, capEnd, dEnd, top);
      if (st !== Status.OK) return st;
      st = decodeEthernet(b, o + VXLAN_HEADER_LEN, capEnd, dEnd, v);
    } else {
      const g = this.geneve;
      st = decodeGeneve(b, o, capEnd, dEnd, g, top);
      if (st !== Status.OK) return st;
      if (g.protocol === GENEVE_PROTO_ETHERNET) st = decodeEthernet(b, g.payloadOffset, capEnd, dEnd, v);
      else {
        // An IP packet with no Ethernet header (protocol type 0x0800 or 0x86DD); any other
        // payload is not IP, which decodeStack says.
        v.l3Offset = g.payloadOffset;
        v.ethertype = g.protocol;
        v.tags = 0;
      }
    }
    if (st === Status.OK) {
      const s = depth === 1 ? f.inner : this.nested[depth];
      if (depth === 1) f.innerVlanTags = v.tags;
      else s.reset();
      st = this.decodeStack(b, v.l3Offset, v.ethertype, capEnd, dEnd, s, true, f, depth);
    }
    if (st !== Status.OK) f.statusInner = true;
    return st;
  }

  /**
   * The tunnel's own UDP checksum. Over IPv6 a zero is legal here (RFC 6935 §5). When the inner
   * transport checksum is partial, the kernel computed this one as if the inner were complete
   * (local checksum offload): verify it against the completed inner field.
   */
  private verifyOuterUdp(b: Uint8Array, capEnd: number, s: Stack, f: Frame, allowPartial: boolean): void {
    let r = verifyTransport(b, s, capEnd, Csum.NONE, allowPartial);
    if ((r === Csum.BAD || r === BAD_PSEUDO_ONLY) && f.encap !== ENCAP_NONE) {
      const inner = f.inner;
      const udp = ENCAP_LAYER_BASE[f.encap] + (Layer.UDP - Layer.IPV4);
      const tcp = ENCAP_LAYER_BASE[f.encap] + (Layer.TCP - Layer.IPV4);
      const innerLayer = f.csum[udp] === Csum.PARTIAL ? udp : f.csum[tcp] === Csum.PARTIAL ? tcp : -1;
      if (innerLayer >= 0) {
        let was = inner.l4Field;
        let should = completedField(inner);
        if (((inner.l4FieldOffset - s.l4Offset) & 1) !== 0) {
          // The inner field sits at an odd offset in the outer segment: its bytes swap roles.
          was = ((was & 0xff) << 8) | (was >>> 8);
          should = ((should & 0xff) << 8) | (should >>> 8);
        }
        if (fold(s.l4Sum + (~was & 0xffff) + should) === 0xffff) r = Csum.OK;
      }
    }
    this.record(f, Layer.UDP, r);
  }

  private record(f: Frame, layer: number, r: number): void {
    if (r === BAD_PSEUDO_ONLY) {
      f.pseudoOnlyBad |= 1 << layer;
      r = Csum.BAD;
    }
    f.csum[layer] = r;
  }
}
