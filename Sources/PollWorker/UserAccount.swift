import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A local user account, as limactl's child process needs it: ids and home.
public struct UserAccount: Sendable, Equatable {
    public var name: String
    public var uid: UInt32
    public var gid: UInt32
    public var home: String

    public init(name: String, uid: UInt32, gid: UInt32, home: String) {
        self.name = name
        self.uid = uid
        self.gid = gid
        self.home = home
    }

    /// Looks a user up in the system's user database (getpwnam_r).
    public static func lookup(_ name: String) -> UserAccount? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16_384)
        let status = getpwnam_r(name, &entry, &buffer, buffer.count, &result)
        guard status == 0, result != nil, let dir = entry.pw_dir else { return nil }
        return UserAccount(name: name, uid: entry.pw_uid, gid: entry.pw_gid, home: String(cString: dir))
    }

    /// The account the agent itself runs as.
    public static func current() -> UserAccount {
        let uid = geteuid()
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16_384)
        if getpwuid_r(uid, &entry, &buffer, buffer.count, &result) == 0, result != nil, let name = entry.pw_name,
            let dir = entry.pw_dir
        {
            return UserAccount(name: String(cString: name), uid: uid, gid: getegid(), home: String(cString: dir))
        }
        let home = ProcessInfo.processInfo.environment["HOME"] ?? "/"
        return UserAccount(name: String(uid), uid: uid, gid: getegid(), home: home)
    }
}
