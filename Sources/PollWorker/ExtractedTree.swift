import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A directory tar has just extracted into a root-only staging directory, walked
/// by file descriptor (never by path, never following a symlink) before it is
/// moved into place. The walk is a second line behind the listing check, for an
/// archive that changed after it was verified or a tar that behaved unexpectedly:
/// - only directories, regular files and symlinks are allowed (a device, fifo or
///   socket is refused);
/// - a symlink whose target is absolute, leads out of the tree or passes through
///   another symlink of the tree (`TarListing.resolve`) is refused;
/// - a regular file with more hard links than the tree holds is refused (it would
///   share its inode, and after the chown its owner, with a file elsewhere);
/// - set-user-ID and set-group-ID bits are cleared from regular files;
/// - everything is handed to `owner` with `fchownat(AT_SYMLINK_NOFOLLOW)`;
/// - no deeper than `TarListing.maxDepth` levels.
enum ExtractedTree {
    /// Why the extracted tree is refused.
    struct Refusal: Error, Sendable, CustomStringConvertible {
        var message: String
        var description: String { message }
    }

    /// A regular file's identity, for counting its hard links within the tree.
    private struct FileID: Hashable {
        var device: UInt64
        var inode: UInt64
    }

    private struct LinkCount {
        var seen: UInt64
        var total: UInt64
        var path: String
    }

    /// A symlink met on the walk, checked once all of them are known.
    private struct Symlink {
        var directory: [String]
        var target: String
        var path: String
    }

    /// What the walk gathers on its way.
    private struct Walk {
        var links: [FileID: LinkCount] = [:]
        var symlinks: [Symlink] = []
    }

    /// Checks the directory `name` in `parent` and everything in it, and gives it
    /// all to `owner` (uid, gid) when one is given.
    static func settle(_ name: String, in parent: DirectoryHandle, owner: (uid: UInt32, gid: UInt32)?) throws(Refusal) {
        let cName = DirectoryHandle.name(name)
        guard let info = parent.status(of: cName), (info.st_mode & S_IFMT) == S_IFDIR else {
            throw Refusal(message: "the archive did not extract a directory \"\(name)\"")
        }
        let top: DirectoryHandle
        do throws(FileBytes.Failure) {
            top = try DirectoryHandle(in: parent, name: cName)
        } catch {
            throw Refusal(message: "cannot open the extracted \"\(name)\": \(error)")
        }
        try adopt(cName, in: parent, shown: name, info: info, owner: owner)
        var walk = Walk()
        try visit(top, components: [name], owner: owner, walk: &walk)
        for count in walk.links.values where count.seen < count.total {
            throw Refusal(
                message: "\"\(count.path)\" has \(count.total) hard links but only \(count.seen) inside the archive")
        }
        let paths = Set(walk.symlinks.map(\.path))
        for link in walk.symlinks {
            switch TarListing.resolve(link.target, from: link.directory, symlinks: paths) {
            case .inside:
                continue
            case .escapes:
                throw Refusal(message: "the symlink \"\(link.path)\" -> \"\(link.target)\" leads out of the archive")
            case .throughSymlink(let other):
                throw Refusal(
                    message:
                        "the symlink \"\(link.path)\" -> \"\(link.target)\" passes through the symlink \"\(other)\"")
            }
        }
    }

    private static func visit(
        _ directory: DirectoryHandle, components: [String], owner: (uid: UInt32, gid: UInt32)?,
        walk: inout Walk
    ) throws(Refusal) {
        let names: [[CChar]]
        do throws(FileBytes.Failure) {
            names = try directory.entries()
        } catch {
            throw Refusal(message: "cannot read \(error.path): \(error)")
        }
        for name in names {
            let text = DirectoryHandle.text(name)
            let shown = (components + [text]).joined(separator: "/")
            guard components.count < TarListing.maxDepth else {
                throw Refusal(message: "\"\(shown)\" is nested deeper than \(TarListing.maxDepth) levels")
            }
            guard let info = directory.status(of: name) else {
                throw Refusal(message: "cannot inspect \"\(shown)\": \(String(cString: strerror(errno)))")
            }
            switch info.st_mode & S_IFMT {
            case S_IFDIR:
                let child: DirectoryHandle
                do throws(FileBytes.Failure) {
                    child = try DirectoryHandle(in: directory, name: name)
                } catch {
                    throw Refusal(message: "cannot open \"\(shown)\": \(error)")
                }
                try adopt(name, in: directory, shown: shown, info: info, owner: owner)
                try visit(child, components: components + [text], owner: owner, walk: &walk)
            case S_IFREG:
                if info.st_nlink > 1 {
                    let id = FileID(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
                    walk.links[id, default: LinkCount(seen: 0, total: UInt64(info.st_nlink), path: shown)].seen += 1
                }
                try adopt(name, in: directory, shown: shown, info: info, owner: owner)
                let privileged = info.st_mode & (S_ISUID | S_ISGID)
                if privileged != 0, fchmodat(directory.fd, name, info.st_mode & 0o1777, 0) != 0 {
                    throw Refusal(message: "cannot clear the set-id bits of \"\(shown)\"")
                }
            case S_IFLNK:
                let capacity = 4096
                var buffer = [CChar](repeating: 0, count: capacity + 1)
                let count = readlinkat(directory.fd, name, &buffer, capacity)
                guard count >= 0 else { throw Refusal(message: "cannot read the symlink \"\(shown)\"") }
                let target = buffer.withUnsafeBytes { String(decoding: $0.prefix(count), as: UTF8.self) }
                guard !target.hasPrefix("/"), !target.isEmpty else {
                    throw Refusal(message: "the symlink \"\(shown)\" points to the absolute path \"\(target)\"")
                }
                walk.symlinks.append(Symlink(directory: components, target: target, path: shown))
                try adopt(name, in: directory, shown: shown, info: info, owner: owner)
            default:
                throw Refusal(message: "\"\(shown)\" is a device, fifo or socket")
            }
        }
    }

    /// Gives one entry (not following a symlink) to `owner`.
    private static func adopt(
        _ name: [CChar], in directory: DirectoryHandle, shown: String, info: stat,
        owner: (uid: UInt32, gid: UInt32)?
    ) throws(Refusal) {
        guard let owner, info.st_uid != owner.uid || info.st_gid != owner.gid else { return }
        guard fchownat(directory.fd, name, owner.uid, owner.gid, AT_SYMLINK_NOFOLLOW) == 0 else {
            throw Refusal(message: "cannot give \"\(shown)\" to uid \(owner.uid): \(String(cString: strerror(errno)))")
        }
    }

    /// Removes the entry `name` in `parent` and, for a directory, all it holds;
    /// by descriptor, never following a symlink. Best effort: what cannot be
    /// removed stays.
    static func remove(_ name: [CChar], in parent: DirectoryHandle) {
        guard let info = parent.status(of: name) else { return }
        guard (info.st_mode & S_IFMT) == S_IFDIR else {
            _ = unlinkat(parent.fd, name, 0)
            return
        }
        if let child = try? DirectoryHandle(in: parent, name: name) {
            removeContents(of: child)
        }
        _ = unlinkat(parent.fd, name, AT_REMOVEDIR)
    }

    /// Removes everything inside `directory`, leaving it empty.
    static func removeContents(of directory: DirectoryHandle) {
        // A read-only directory from the archive must still be emptied.
        _ = fchmod(directory.fd, 0o700)
        for entry in (try? directory.entries()) ?? [] {
            remove(entry, in: directory)
        }
    }
}
