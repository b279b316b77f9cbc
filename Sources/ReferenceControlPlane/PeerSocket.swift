import FlyingFox
import FlyingSocks
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Reaches under FlyingFox to the accepted socket of one request, to make its close a TCP
/// reset (RST) instead of an orderly FIN.
///
/// FlyingFox does not hand a handler its connection's socket. But that socket is an open
/// descriptor of this process, and the request's `remoteAddress` is what FlyingFox read
/// from it with `Socket.remotePeer()`. So every descriptor listed in /proc/self/fd (Linux)
/// or /dev/fd (macOS) is asked for its peer the same way, and the one whose peer matches
/// gets `SO_LINGER {on, 0 s}`: when FlyingFox later closes it, the kernel sends RST. Only
/// a connected socket with exactly that peer address and port can match, and this process
/// opens no outgoing connections, so no other socket is touched.
enum PeerSocket {
    /// Arms the reset for the connection from `peer`; false when no socket matched (its
    /// close is then an ordinary FIN).
    static func resetOnClose(peer: HTTPRequest.Address?) -> Bool {
        guard let peer else { return false }
        if case .unix = peer { return false }
        for descriptor in OpenDescriptors.list() {
            let socket = Socket(file: Socket.FileDescriptor(rawValue: descriptor))
            guard let remote = try? socket.remotePeer(), HTTPRequest.Address.make(from: remote) == peer else {
                continue
            }
            var value = linger(l_onoff: 1, l_linger: 0)
            return setsockopt(descriptor, SOL_SOCKET, SO_LINGER, &value, socklen_t(MemoryLayout<linger>.size)) == 0
        }
        return false
    }
}
