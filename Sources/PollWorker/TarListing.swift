import Foundation

/// GNU tar's verbose listing of a backup archive, read and checked for anything
/// that would make extracting it unsafe or that a backup of one instance
/// directory never contains.
///
/// The listing is produced with `tar --list --verbose --numeric-owner
/// --quoting-style=c` under `LC_ALL=C`. That format is chosen so it can be read
/// without guessing: every name and link target is printed in double quotes
/// with C escapes (`\"`, `\\`, `\n`, `\303`), so a name holding spaces, a
/// newline, ` -> ` or ` link to ` cannot be mistaken for the listing's own
/// syntax, and one line is exactly one member. The columns before the name
/// (mode, numeric owner/group, size, date, time) never hold a double quote, so
/// the name starts at the line's first `"`:
///
///     drwxr-xr-x 0/0               0 2026-11-27 10:00 "dev/"
///     -rw-r--r-- 0/0             123 2026-11-27 10:00 "dev/lima.yaml"
///     lrwxrwxrwx 0/0               0 2026-11-27 10:00 "dev/link" -> "lima.yaml"
///     hrw-r--r-- 0/0               0 2026-11-27 10:00 "dev/b" link to "dev/a"
///
/// What is refused: an empty listing; a line that does not read as above; an
/// absolute name; a `..`, `.` or empty name component; a name that is not UTF-8;
/// more than one top-level name, or a top-level entry that is not a directory;
/// names deeper than `maxDepth`; device, fifo and any other special entries
/// (only files, directories, symlinks and hard links are allowed); any entry
/// beneath a symlink entry (extracting it would write through the link); a
/// symlink whose target is absolute, escapes the top-level directory once
/// normalised, or passes through another symlink of the archive on the way (so
/// a chain of links cannot walk out where each alone looks harmless); a hard
/// link whose target is not a file inside the top-level directory.
public struct TarListing: Sendable, Equatable {
    /// What a member is.
    public enum Kind: Sendable, Equatable {
        case file
        case directory
        case symlink(target: String)
        case hardLink(target: String)
    }

    /// One member: its normalised name (no trailing slash) and kind.
    public struct Entry: Sendable, Equatable {
        public var name: String
        public var kind: Kind

        public init(name: String, kind: Kind) {
            self.name = name
            self.kind = kind
        }
    }

    /// Why a listing is refused, in words for the job's error message.
    public struct Refusal: Error, Sendable, Equatable, CustomStringConvertible {
        public var message: String

        public init(_ message: String) {
            self.message = message
        }

        public var description: String { message }
    }

    /// Path components a name may have at most (an instance directory is shallow).
    public static let maxDepth = 64

    public var entries: [Entry]
    /// The single top-level directory every member lies in.
    public var topLevel: String

    /// Reads and checks tar's standard output.
    public init(parsing output: Data) throws(Refusal) {
        var entries: [Entry] = []
        for line in Array(output).split(separator: 0x0A, omittingEmptySubsequences: true) {
            entries.append(try Self.parseLine(line))
        }
        guard let first = entries.first else { throw Refusal("the archive is empty") }
        let topLevel = Self.components(first.name)[0]
        try Self.check(entries, topLevel: topLevel)
        self.entries = entries
        self.topLevel = topLevel
    }

    // MARK: - Checking

    private static func check(_ entries: [Entry], topLevel: String) throws(Refusal) {
        var sawTop = false
        var symlinks = Set<String>()
        for entry in entries {
            let parts = components(entry.name)
            guard parts[0] == topLevel else {
                throw Refusal("more than one top-level name: \"\(topLevel)\" and \"\(parts[0])\"")
            }
            if parts.count == 1 {
                guard entry.kind == .directory else {
                    throw Refusal("the top-level entry \"\(topLevel)\" is not a directory")
                }
                sawTop = true
            }
            if case .symlink = entry.kind { symlinks.insert(entry.name) }
        }
        guard sawTop else { throw Refusal("the archive has no top-level directory entry \"\(topLevel)\"") }
        for entry in entries {
            let parts = components(entry.name)
            if let link = symlinkPrefix(of: parts, in: symlinks) {
                throw Refusal("\"\(entry.name)\" lies beneath the symlink \"\(link)\"")
            }
            switch entry.kind {
            case .file, .directory:
                break
            case .symlink(let target):
                guard !target.isEmpty, !target.hasPrefix("/") else {
                    throw Refusal("the symlink \"\(entry.name)\" points to the absolute path \"\(target)\"")
                }
                switch resolve(target, from: Array(parts.dropLast()), symlinks: symlinks) {
                case .inside:
                    break
                case .escapes:
                    throw Refusal("the symlink \"\(entry.name)\" -> \"\(target)\" leads out of \"\(topLevel)\"")
                case .throughSymlink(let link):
                    throw Refusal(
                        "the symlink \"\(entry.name)\" -> \"\(target)\" passes through the symlink \"\(link)\"")
                }
            case .hardLink(let target):
                let targetParts = components(target)
                let valid = targetParts.count >= 2 && targetParts[0] == topLevel
                guard valid, (try? validatedName(target, trailingSlash: false)) != nil else {
                    throw Refusal(
                        "the hard link \"\(entry.name)\" points to \"\(target)\", not to a file inside \"\(topLevel)\"")
                }
                if let link = symlinkPrefix(of: targetParts, in: symlinks) {
                    throw Refusal("the hard link \"\(entry.name)\" points beneath the symlink \"\(link)\"")
                }
            }
        }
    }

    /// The first proper prefix of `parts` that is a symlink entry, if any.
    private static func symlinkPrefix(of parts: [String], in symlinks: Set<String>) -> String? {
        guard !symlinks.isEmpty else { return nil }
        var prefix = ""
        for part in parts.dropLast() {
            prefix = prefix.isEmpty ? part : prefix + "/" + part
            if symlinks.contains(prefix) { return prefix }
        }
        return nil
    }

    /// Where a relative symlink target leads, walked lexically.
    public enum Resolution: Sendable, Equatable {
        /// It stays within the top-level directory (the directory itself included).
        case inside
        /// A `..` would leave the top-level directory.
        case escapes
        /// It walks through this symlink entry before its last component.
        case throughSymlink(String)
    }

    /// Resolves the relative `target` of a symlink in `directory` (the link's
    /// parent as path components, the top-level name first). Walking lexically is
    /// exact as long as no component before the last is itself a symlink, which
    /// is why passing through one of `symlinks` is reported rather than followed.
    public static func resolve(_ target: String, from directory: [String], symlinks: Set<String>) -> Resolution {
        var stack = directory
        let parts = target.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        for (index, part) in parts.enumerated() {
            switch part {
            case "", ".":
                continue
            case "..":
                guard stack.count > 1 else { return .escapes }
                stack.removeLast()
            default:
                stack.append(part)
                let more = parts[(index + 1)...].contains { $0 != "" && $0 != "." }
                let path = stack.joined(separator: "/")
                if more, symlinks.contains(path) { return .throughSymlink(path) }
            }
        }
        return stack.isEmpty ? .escapes : .inside
    }

    // MARK: - Reading lines

    private static func parseLine(_ line: ArraySlice<UInt8>) throws(Refusal) -> Entry {
        let shown = String(decoding: line.prefix(300), as: UTF8.self)
        guard let type = line.first, let quote = line.firstIndex(of: UInt8(ascii: "\"")) else {
            throw Refusal("tar printed a line that is not a listing entry: \(shown)")
        }
        let (nameBytes, afterName) = try unquote(line, at: quote, shown: shown)
        let rest = line[afterName...]
        let trailingSlash = type == UInt8(ascii: "d")
        let name = try validatedName(try utf8(nameBytes, shown: shown), trailingSlash: trailingSlash)
        switch type {
        case UInt8(ascii: "-"):
            guard rest.isEmpty else { throw Refusal("unreadable listing line: \(shown)") }
            return Entry(name: name, kind: .file)
        case UInt8(ascii: "d"):
            guard rest.isEmpty else { throw Refusal("unreadable listing line: \(shown)") }
            return Entry(name: name, kind: .directory)
        case UInt8(ascii: "l"):
            let target = try linkTarget(rest, marker: " -> ", shown: shown)
            return Entry(name: name, kind: .symlink(target: target))
        case UInt8(ascii: "h"):
            let target = try linkTarget(rest, marker: " link to ", shown: shown)
            return Entry(name: name, kind: .hardLink(target: target))
        case UInt8(ascii: "c"), UInt8(ascii: "b"):
            throw Refusal("\"\(name)\" is a device file")
        case UInt8(ascii: "p"):
            throw Refusal("\"\(name)\" is a fifo")
        default:
            throw Refusal("\"\(name)\" is of an entry type a backup never holds ('\(Character(Unicode.Scalar(type)))')")
        }
    }

    private static func linkTarget(_ rest: ArraySlice<UInt8>, marker: String, shown: String) throws(Refusal) -> String {
        let markerBytes = Array(marker.utf8)
        guard rest.starts(with: markerBytes) else { throw Refusal("unreadable listing line: \(shown)") }
        let quote = rest.startIndex + markerBytes.count
        guard quote < rest.endIndex, rest[quote] == UInt8(ascii: "\"") else {
            throw Refusal("unreadable listing line: \(shown)")
        }
        let (bytes, end) = try unquote(rest, at: quote, shown: shown)
        guard end == rest.endIndex else { throw Refusal("unreadable listing line: \(shown)") }
        return try utf8(bytes, shown: shown)
    }

    /// The bytes of the C-quoted string starting at `start` (a `"`), and the index after its closing quote.
    private static func unquote(
        _ line: ArraySlice<UInt8>, at start: Int, shown: String
    ) throws(Refusal) -> ([UInt8], Int) {
        var bytes: [UInt8] = []
        var index = start + 1
        while index < line.endIndex {
            let byte = line[index]
            if byte == UInt8(ascii: "\"") { return (bytes, index + 1) }
            guard byte == UInt8(ascii: "\\") else {
                bytes.append(byte)
                index += 1
                continue
            }
            index += 1
            guard index < line.endIndex else { break }
            let escaped = line[index]
            if let simple = simpleEscapes[escaped] {
                bytes.append(simple)
                index += 1
                continue
            }
            guard (UInt8(ascii: "0")...UInt8(ascii: "7")).contains(escaped) else {
                throw Refusal("an unknown escape in the listing line: \(shown)")
            }
            var value = 0
            var digits = 0
            while digits < 3, index < line.endIndex, (UInt8(ascii: "0")...UInt8(ascii: "7")).contains(line[index]) {
                value = value * 8 + Int(line[index] - UInt8(ascii: "0"))
                digits += 1
                index += 1
            }
            guard value <= 255 else { throw Refusal("an out-of-range escape in the listing line: \(shown)") }
            bytes.append(UInt8(value))
        }
        throw Refusal("an unterminated name in the listing line: \(shown)")
    }

    private static let simpleEscapes: [UInt8: UInt8] = [
        UInt8(ascii: "\\"): 0x5C, UInt8(ascii: "\""): 0x22, UInt8(ascii: "?"): 0x3F, UInt8(ascii: "'"): 0x27,
        UInt8(ascii: "a"): 0x07, UInt8(ascii: "b"): 0x08, UInt8(ascii: "f"): 0x0C, UInt8(ascii: "n"): 0x0A,
        UInt8(ascii: "r"): 0x0D, UInt8(ascii: "t"): 0x09, UInt8(ascii: "v"): 0x0B,
    ]

    private static func utf8(_ bytes: [UInt8], shown: String) throws(Refusal) -> String {
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw Refusal("a name that is not UTF-8 in the listing line: \(shown)")
        }
        return text
    }

    /// `name` without a directory's trailing slash, checked: relative, no empty,
    /// `.` or `..` component, no deeper than `maxDepth`.
    private static func validatedName(_ name: String, trailingSlash: Bool) throws(Refusal) -> String {
        var name = Substring(name)
        if trailingSlash, name.count > 1, name.hasSuffix("/") { name = name.dropLast() }
        guard !name.hasPrefix("/") else { throw Refusal("\"\(name)\" is an absolute path") }
        let parts = name.split(separator: "/", omittingEmptySubsequences: false)
        guard !parts.contains("..") else { throw Refusal("\"\(name)\" has a `..` component") }
        guard !parts.contains(where: { $0.isEmpty || $0 == "." }) else {
            throw Refusal("\"\(name)\" has an empty or `.` component")
        }
        guard parts.count <= maxDepth else { throw Refusal("\"\(name)\" is deeper than \(maxDepth) levels") }
        return String(name)
    }

    /// A checked name's components (never empty).
    private static func components(_ name: String) -> [String] {
        name.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
    }
}
