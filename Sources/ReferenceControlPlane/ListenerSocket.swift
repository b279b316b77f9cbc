import FlyingFox
import FlyingSocks
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Turns Nagle's algorithm off for every connection the server accepts.
///
/// FlyingFox writes a response's header and body in two `write`s. With Nagle on, the
/// body waits until the client acknowledges the header, and a client delays that
/// acknowledgement by up to 40 ms: every small response would take 40 ms on loopback,
/// a long-poll reply included. FlyingFox does not expose its sockets, so the listening
/// socket is found among this process's descriptors (a listening TCP socket bound to
/// `port`) and given `TCP_NODELAY`, which Linux copies to each socket it accepts.
enum ListenerSocket {
    /// True when the listener was found and the option set.
    static func setNoDelay(port: UInt16) -> Bool {
        for descriptor in OpenDescriptors.list() {
            var listening: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            guard getsockopt(descriptor, SOL_SOCKET, SO_ACCEPTCONN, &listening, &length) == 0, listening == 1,
                let local = try? Socket(file: Socket.FileDescriptor(rawValue: descriptor)).sockname()
            else { continue }
            switch HTTPRequest.Address.make(from: local) {
            case .ip4(_, port: let bound) where bound == port, .ip6(_, port: let bound) where bound == port:
                var on: Int32 = 1
                return setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size))
                    == 0
            default:
                continue
            }
        }
        return false
    }
}
