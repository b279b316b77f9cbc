import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// An open directory, held by file descriptor so that every later step acts on
/// this very directory even if its path is renamed or replaced meanwhile. The
/// Lima home belongs to the unprivileged Lima user, who can rename anything in
/// it; the agent, as root, must never be steered by such a swap into writing
/// (or archiving) somewhere else. The descriptor is closed when the handle goes.
final class DirectoryHandle: Sendable {
    let fd: Int32
    /// The path it was opened by, for messages.
    let path: String

    /// Opens the directory at `path` (symlinks in the path are followed).
    init(path: String) throws(FileBytes.Failure) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw FileBytes.Failure(path: path, errno: errno) }
        self.fd = fd
        self.path = path
    }

    /// Opens the subdirectory `name` (NUL-terminated) of `parent`; a symlink is refused (ELOOP/ENOTDIR).
    init(in parent: DirectoryHandle, name: [CChar]) throws(FileBytes.Failure) {
        let shown = parent.path + "/" + Self.text(name)
        let fd = openat(parent.fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw FileBytes.Failure(path: shown, errno: errno) }
        self.fd = fd
        self.path = shown
    }

    deinit {
        close(fd)
    }

    /// A path a child process can open to reach this same directory:
    /// `/proc/<agent pid>/fd/<fd>`, which names the open directory itself rather
    /// than whatever its path leads to now. Falls back to the path when /proc does
    /// not show it (then a swap of the path during the child's run is not guarded).
    var childPath: String {
        let proc = "/proc/\(getpid())/fd/\(fd)"
        var viaProc = stat()
        var own = stat()
        guard stat(proc, &viaProc) == 0, fstat(fd, &own) == 0, viaProc.st_dev == own.st_dev,
            viaProc.st_ino == own.st_ino
        else { return path }
        return proc
    }

    /// The directory's own status.
    func status() -> stat? {
        var info = stat()
        return fstat(fd, &info) == 0 ? info : nil
    }

    /// The status of the entry `name` (NUL-terminated), not following a symlink; nil when it does not exist.
    func status(of name: [CChar]) -> stat? {
        var info = stat()
        return fstatat(fd, name, &info, AT_SYMLINK_NOFOLLOW) == 0 ? info : nil
    }

    /// The names in the directory (NUL-terminated, `.` and `..` left out).
    func entries() throws(FileBytes.Failure) -> [[CChar]] {
        let copy = dup(fd)
        guard copy >= 0 else { throw FileBytes.Failure(path: path, errno: errno) }
        guard let directory = fdopendir(copy) else {
            let code = errno
            close(copy)
            throw FileBytes.Failure(path: path, errno: code)
        }
        defer { closedir(directory) }
        // The copy shares the offset with `fd`: start from the beginning.
        rewinddir(directory)
        var names: [[CChar]] = []
        while true {
            errno = 0
            guard let entry = readdir(directory) else {
                if errno != 0 { throw FileBytes.Failure(path: path, errno: errno) }
                return names
            }
            let name: [CChar] = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                raw.withMemoryRebound(to: CChar.self) { Array($0.prefix { $0 != 0 }) + [0] }
            }
            if name == [46, 0] || name == [46, 46, 0] { continue }
            names.append(name)
        }
    }

    /// Flushes the directory's entries to disk.
    func sync() throws(FileBytes.Failure) {
        guard fsync(fd) == 0 else { throw FileBytes.Failure(path: path, errno: errno) }
    }

    /// A NUL-terminated name for the *at calls.
    static func name(_ text: String) -> [CChar] {
        Array(text.utf8CString)
    }

    /// A NUL-terminated name as text, for messages.
    static func text(_ name: [CChar]) -> String {
        name.withUnsafeBytes { raw in String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self) }
    }
}
