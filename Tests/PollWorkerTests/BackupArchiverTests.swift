import Crypto
import Foundation
import Models
import Testing

@testable import PollWorker

#if canImport(Glibc)
    import Glibc
#endif

/// A test setup step that could not be done.
private struct SetupFailure: Error, CustomStringConvertible {
    var description: String
}

/// A fresh, existing directory for one test, with its own `backups` and `lima` inside.
private struct Sandbox {
    let root: String
    var backups: String { root + "/backups" }
    var limaHome: String { root + "/lima" }
    var source: String { root + "/src" }

    init() throws {
        root = makeStateDirectory()
        for directory in [root, root + "/lima", root + "/src"] {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: root)
    }

    /// The names in the Lima home (nothing restored, nothing left behind when empty).
    func limaHomeEntries() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: limaHome).sorted()
    }
}

private let archiver = BackupArchiver(runner: SubprocessRunner())

/// Runs a command for the test's own setup (not through the code under test).
private func run(_ executable: String, _ arguments: [String]) async throws -> CommandOutcome {
    let outcome = await SubprocessRunner().run(
        CommandSpec(
            executable: executable, arguments: arguments, environment: ["PATH": "/usr/bin:/bin", "LC_ALL": "C"],
            workingDirectory: "/", timeout: .seconds(60), maxOutputBytes: 1 << 20))
    guard outcome.exitCode == 0 else {
        throw SetupFailure(description: "\(executable) \(arguments) failed: \(outcome.stderrText)")
    }
    return outcome
}

private func write(_ text: String, to path: String) throws {
    try Data(text.utf8).write(to: URL(fileURLWithPath: path))
}

private func read(_ path: String) throws -> Data {
    try Data(contentsOf: URL(fileURLWithPath: path))
}

private func makeDirectory(_ path: String) throws {
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
}

private func symlink(_ path: String, to target: String) throws {
    try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: target)
}

private func lstatus(_ path: String) -> stat? {
    var info = stat()
    return lstat(path, &info) == 0 ? info : nil
}

private func randomBytes(_ count: Int) -> Data {
    var generator = SystemRandomNumberGenerator()
    return Data((0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) })
}

/// Binds a real unix socket at `path` (the socket file stays after the descriptor closes).
private func bindSocket(at path: String) throws {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw SetupFailure(description: "socket() failed") }
    defer { close(fd) }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
        throw SetupFailure(description: "socket path too long: \(path)")
    }
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        for (index, byte) in bytes.enumerated() { raw[index] = byte }
    }
    let size = socklen_t(MemoryLayout<sockaddr_un>.size)
    let result = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, size) }
    }
    guard result == 0 else { throw SetupFailure(description: "bind(\(path)) failed: errno \(errno)") }
}

/// Lowercase hex SHA-256 of a whole file, computed independently of `FileDigest`.
private func sha256Hex(_ path: String) throws -> String {
    SHA256.hash(data: try read(path)).map { String(format: "%02x", $0) }.joined()
}

/// A Lima-like instance directory `<parent>/<name>`: lima.yaml, a file with
/// spaces in its name, a nested directory, relative symlinks, a sparse disk
/// image of 8 MiB with data at both ends, a pid file and a unix socket.
private func makeInstance(in parent: String, name: String) throws -> String {
    let directory = parent + "/" + name
    try makeDirectory(directory + "/sub/deeper")
    try write("cpus: 2\nmemory: 2GiB\ndisk: 20GiB\n", to: directory + "/lima.yaml")
    try write("spaced out\n", to: directory + "/with space -> arrow.txt")
    try write("nested\n", to: directory + "/sub/deeper/file.txt")
    try symlink(directory + "/link", to: "lima.yaml")
    try symlink(directory + "/sub/up", to: "../lima.yaml")
    let disk = directory + "/diffdisk"
    _ = FileManager.default.createFile(atPath: disk, contents: nil)
    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: disk))
    try handle.write(contentsOf: randomBytes(256 << 10))
    try handle.seek(toOffset: 6 << 20)
    try handle.write(contentsOf: randomBytes(64 << 10))
    try handle.truncate(atOffset: 8 << 20)
    try handle.close()
    try write("4242\n", to: directory + "/ha.pid")
    try bindSocket(at: directory + "/ha.sock")
    return directory
}

@Suite("BackupArchiver: backup and restore with the real tar")
struct BackupArchiverTests {
    @Test("create, verify and extract as a new name round-trip the instance directory")
    func roundTrip() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let instance = try makeInstance(in: sandbox.source, name: "dev")
        let archive = sandbox.backups + "/nested/dev-1.tar.gz"

        let made = try await archiver.create(instanceDir: instance, archive: archive, timeout: .seconds(60))

        // Size and digest: as stat, Crypto and sha256sum see the finished file.
        let info = try #require(lstatus(archive))
        #expect(made.sizeBytes == Int64(info.st_size))
        let independent = try sha256Hex(archive)
        #expect(made.sha256 == independent)
        let sum = try await run("/usr/bin/sha256sum", [archive])
        #expect(sum.stdoutText.split(separator: " ").first.map(String.init) == made.sha256)
        // Private: the archive 0600, the directory made for it 0700, no temporary left.
        #expect(info.st_mode & 0o777 == 0o600)
        #expect((lstatus(sandbox.backups + "/nested")?.st_mode ?? 0) & 0o777 == 0o700)
        #expect(try FileManager.default.contentsOfDirectory(atPath: sandbox.backups + "/nested") == ["dev-1.tar.gz"])

        // Neither the pid file nor the socket is in it.
        let listing = try await run(
            archiver.tarPath, ["--list", "--gzip", "--quoting-style=c", "--file=\(archive)"])
        #expect(!listing.stdoutText.contains("ha.pid"))
        #expect(!listing.stdoutText.contains("ha.sock"))
        #expect(listing.stdoutText.contains("\"dev/lima.yaml\""))

        let top = try await archiver.verify(archive: archive, sha256: made.sha256.uppercased(), timeout: .seconds(60))
        #expect(top == "dev")

        let restored = try await archiver.extract(
            archive: archive, topLevel: top, into: sandbox.limaHome, as: "restored", owner: nil,
            timeout: .seconds(60))
        #expect(restored == sandbox.limaHome + "/restored")
        #expect(try sandbox.limaHomeEntries() == ["restored"])
        for file in ["lima.yaml", "with space -> arrow.txt", "sub/deeper/file.txt", "diffdisk"] {
            #expect(try read(restored + "/" + file) == read(instance + "/" + file), "\(file)")
        }
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: restored + "/link") == "lima.yaml")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: restored + "/sub/up") == "../lima.yaml")
        #expect(try read(restored + "/sub/up") == read(instance + "/lima.yaml"))
        #expect(lstatus(restored + "/ha.pid") == nil)
        #expect(lstatus(restored + "/ha.sock") == nil)
        // The disk image stayed sparse: far fewer blocks than its 8 MiB.
        let disk = try #require(lstatus(restored + "/diffdisk"))
        #expect(disk.st_size == 8 << 20)
        #expect(Int(disk.st_blocks) * 512 < 4 << 20)
    }

    @Test("extract gives the restored tree to the owner, symlinks included, and clears set-id bits")
    func extractChowns() async throws {
        guard geteuid() == 0 else { return }
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let instance = try makeInstance(in: sandbox.source, name: "dev")
        try write("#!/bin/sh\n", to: instance + "/tool")
        #expect(chmod(instance + "/tool", 0o4755) == 0)
        let archive = sandbox.backups + "/dev.tar.gz"
        _ = try await archiver.create(instanceDir: instance, archive: archive, timeout: .seconds(60))
        let nobody = UserAccount(name: "nobody", uid: 65_534, gid: 65_534, home: "/nonexistent")

        let restored = try await archiver.extract(
            archive: archive, topLevel: "dev", into: sandbox.limaHome, as: "mine", owner: nobody,
            timeout: .seconds(60))

        for path in ["", "/lima.yaml", "/link", "/sub", "/sub/up", "/sub/deeper/file.txt", "/tool"] {
            let info = try #require(lstatus(restored + path), "\(path)")
            #expect(info.st_uid == 65_534, "\(path)")
            #expect(info.st_gid == 65_534, "\(path)")
        }
        let tool = try #require(lstatus(restored + "/tool"))
        #expect(tool.st_mode & 0o7777 == 0o755)
        // The link's target was not chowned through it.
        #expect(lstatus(instance + "/lima.yaml")?.st_uid == 0)
    }

    @Test("create refuses an instance directory not owned by the given owner")
    func createChecksOwner() async throws {
        guard geteuid() == 0 else { return }
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let instance = try makeInstance(in: sandbox.source, name: "dev")
        let archive = sandbox.backups + "/dev.tar.gz"
        let someone = UserAccount(name: "someone", uid: 4321, gid: 4321, home: "/nonexistent")
        let error = try await #require(throws: JobError.self) {
            try await archiver.create(instanceDir: instance, archive: archive, owner: someone, timeout: .seconds(60))
        }
        #expect(error.code == .backupFailed)
        #expect(lstatus(archive) == nil)
    }

    @Test("create refuses a symlinked instance directory")
    func createRefusesSymlink() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        _ = try makeInstance(in: sandbox.source, name: "dev")
        try symlink(sandbox.source + "/alias", to: "dev")
        let archive = sandbox.backups + "/alias.tar.gz"
        let error = try await #require(throws: JobError.self) {
            try await archiver.create(instanceDir: sandbox.source + "/alias", archive: archive, timeout: .seconds(60))
        }
        #expect(error.code == .backupFailed)
        #expect(lstatus(archive) == nil)
    }

    @Test("create refuses an existing archive and leaves it untouched")
    func createNeverOverwrites() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let instance = try makeInstance(in: sandbox.source, name: "dev")
        try makeDirectory(sandbox.backups)
        let archive = sandbox.backups + "/dev.tar.gz"
        try write("precious", to: archive)

        let error = try await #require(throws: JobError.self) {
            try await archiver.create(instanceDir: instance, archive: archive, timeout: .seconds(60))
        }
        #expect(error.code == .backupFailed)
        #expect(error.status == .failed)
        #expect(error.message.contains("exists"))
        #expect(try read(archive) == Data("precious".utf8))
        #expect(try FileManager.default.contentsOfDirectory(atPath: sandbox.backups) == ["dev.tar.gz"])
    }

    @Test("A failed create leaves no temporary file")
    func createFailureCleansUp() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let instance = try makeInstance(in: sandbox.source, name: "dev")
        let broken = BackupArchiver(runner: SubprocessRunner(), tarPath: "/nonexistent/tar")
        let error = try await #require(throws: JobError.self) {
            try await broken.create(
                instanceDir: instance, archive: sandbox.backups + "/dev.tar.gz", timeout: .seconds(60))
        }
        #expect(error.code == .backupFailed)
        #expect(try FileManager.default.contentsOfDirectory(atPath: sandbox.backups).isEmpty)
    }

    @Test("verify refuses a wrong sha256, naming both")
    func verifyWrongDigest() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let instance = try makeInstance(in: sandbox.source, name: "dev")
        let archive = sandbox.backups + "/dev.tar.gz"
        let made = try await archiver.create(instanceDir: instance, archive: archive, timeout: .seconds(60))
        let wrong = String(repeating: "0", count: 64)

        let error = try await #require(throws: JobError.self) {
            try await archiver.verify(archive: archive, sha256: wrong, timeout: .seconds(60))
        }
        #expect(error.code == .backupFailed)
        #expect(error.status == .failed)
        #expect(error.message.contains(wrong))
        #expect(error.message.contains(made.sha256))
    }

    @Test("readMember reads lima.yaml, and gives nil for a missing or oversized member")
    func readMember() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let instance = try makeInstance(in: sandbox.source, name: "dev")
        let archive = sandbox.backups + "/dev.tar.gz"
        _ = try await archiver.create(instanceDir: instance, archive: archive, timeout: .seconds(60))

        let yaml = await archiver.readMember(archive: archive, path: "dev/lima.yaml", timeout: .seconds(60))
        #expect(try yaml == read(instance + "/lima.yaml"))
        #expect(await archiver.readMember(archive: archive, path: "dev/nope.yaml", timeout: .seconds(60)) == nil)
        #expect(await archiver.readMember(archive: archive, path: "dev/*.yaml", timeout: .seconds(60)) == nil)
        let capped = await archiver.readMember(
            archive: archive, path: "dev/diffdisk", timeout: .seconds(60), maxBytes: 1024)
        #expect(capped == nil)
    }

    @Test("extract refuses an existing instance name and leaves no staging directory")
    func extractRefusesExisting() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let instance = try makeInstance(in: sandbox.source, name: "dev")
        let archive = sandbox.backups + "/dev.tar.gz"
        _ = try await archiver.create(instanceDir: instance, archive: archive, timeout: .seconds(60))
        try makeDirectory(sandbox.limaHome + "/taken")
        try write("keep", to: sandbox.limaHome + "/taken/lima.yaml")

        let error = try await #require(throws: JobError.self) {
            try await archiver.extract(
                archive: archive, topLevel: "dev", into: sandbox.limaHome, as: "taken", owner: nil,
                timeout: .seconds(60))
        }
        #expect(error.status == .rejected)
        #expect(error.code == .vmExists)
        #expect(try sandbox.limaHomeEntries() == ["taken"])
        #expect(try read(sandbox.limaHome + "/taken/lima.yaml") == Data("keep".utf8))
    }

    @Test("An extract that fails midway (a truncated archive) leaves neither staging nor target")
    func extractTruncated() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let instance = try makeInstance(in: sandbox.source, name: "dev")
        let archive = sandbox.backups + "/dev.tar.gz"
        _ = try await archiver.create(instanceDir: instance, archive: archive, timeout: .seconds(60))
        let whole = try read(archive)
        let half = sandbox.backups + "/half.tar.gz"
        try whole.prefix(whole.count / 2).write(to: URL(fileURLWithPath: half))

        let error = try await #require(throws: JobError.self) {
            try await archiver.extract(
                archive: half, topLevel: "dev", into: sandbox.limaHome, as: "restored", owner: nil,
                timeout: .seconds(60))
        }
        #expect(error.code == .backupFailed)
        #expect(try sandbox.limaHomeEntries().isEmpty)
        // verify refuses it too: tar cannot finish the listing.
        let refused = try await #require(throws: JobError.self) {
            try await archiver.verify(archive: half, sha256: nil, timeout: .seconds(60))
        }
        #expect(refused.code == .backupFailed)
    }

    @Test("verify refuses crafted archives, and nothing is extracted", arguments: Malice.allCases)
    func verifyRefuses(_ malice: Malice) async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let archive = try await malice.build(in: sandbox)

        let error = try await #require(throws: JobError.self) {
            try await archiver.verify(archive: archive, sha256: nil, timeout: .seconds(60))
        }
        #expect(error.code == .backupFailed)
        #expect(error.status == .failed)
        #expect(error.message.contains(malice.expectedReason), "\(error.message)")
        #expect(try sandbox.limaHomeEntries().isEmpty)
        #expect(lstatus(sandbox.root + "/f") == nil)
        #expect(lstatus(sandbox.root + "/x") == nil)
    }

    @Test(
        "extract on its own refuses what it finds unsafe once extracted, and leaves nothing",
        arguments: [Malice.absoluteSymlink, .escapingSymlink, .fifo, .symlinkChain])
    func extractRefuses(_ malice: Malice) async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let archive = try await malice.build(in: sandbox)

        let error = try await #require(throws: JobError.self) {
            try await archiver.extract(
                archive: archive, topLevel: "top", into: sandbox.limaHome, as: "evil", owner: nil,
                timeout: .seconds(60))
        }
        #expect(error.code == .backupFailed)
        #expect(try sandbox.limaHomeEntries().isEmpty)
    }
}

/// Archives built to be refused: each breaks one rule of `TarListing`.
enum Malice: String, CaseIterable, Sendable {
    case absolutePath
    case dotDot
    case twoTopLevels
    case absoluteSymlink
    case escapingSymlink
    case fifo
    case beneathSymlink
    case symlinkChain
    case topLevelFile
    case corrupt

    /// Words the refusal must contain.
    var expectedReason: String {
        switch self {
        case .absolutePath: "is an absolute path"
        case .dotDot: "has a `..` component"
        case .twoTopLevels: "more than one top-level name"
        case .absoluteSymlink: "points to the absolute path \"/etc/passwd\""
        case .escapingSymlink: "leads out of"
        case .fifo: "is a fifo"
        case .beneathSymlink: "lies beneath the symlink \"top/l\""
        case .symlinkChain: "passes through the symlink \"top/b/c\""
        case .topLevelFile: "is not a directory"
        case .corrupt: "tar exited"
        }
    }

    /// Builds the archive in the sandbox from `src/top` (holding `f` and `sub/`) and returns its path.
    fileprivate func build(in sandbox: Sandbox) async throws -> String {
        let source = sandbox.source
        try makeDirectory(source + "/top/sub")
        try write("file\n", to: source + "/top/f")
        let archive = sandbox.root + "/evil.tar.gz"
        var arguments = ["--create", "--gzip", "--file=\(archive)"]
        switch self {
        case .absolutePath:
            try write("absolute\n", to: sandbox.root + "/abs-file")
            arguments += ["--absolute-names", sandbox.root + "/abs-file"]
        case .dotDot:
            arguments += ["--transform=s,^top/f$,top/../f,", "--directory=\(source)", "top"]
        case .twoTopLevels:
            try makeDirectory(source + "/other")
            arguments += ["--directory=\(source)", "top", "other"]
        case .absoluteSymlink:
            try symlink(source + "/top/passwd", to: "/etc/passwd")
            arguments += ["--directory=\(source)", "top"]
        case .escapingSymlink:
            try makeDirectory(source + "/top/d")
            try symlink(source + "/top/d/l", to: "../../x")
            arguments += ["--directory=\(source)", "top"]
        case .fifo:
            guard mkfifo(source + "/top/fifo", 0o644) == 0 else { throw SetupFailure(description: "mkfifo failed") }
            arguments += ["--directory=\(source)", "top"]
        case .beneathSymlink:
            try symlink(source + "/top/l", to: "sub")
            try write("evil\n", to: source + "/top/sub/evil")
            arguments += ["--transform=s,^top/sub/evil$,top/l/evil,", "--directory=\(source)", "top"]
        case .symlinkChain:
            // Each link alone stays inside top; followed for real, `a` ends above it.
            try makeDirectory(source + "/top/b")
            try symlink(source + "/top/b/c", to: ".")
            try symlink(source + "/top/a", to: "b/c/c/c/../../../..")
            arguments += ["--directory=\(source)", "top"]
        case .topLevelFile:
            arguments += ["--directory=\(source)/top", "f"]
        case .corrupt:
            try Data("this is not gzip at all".utf8).write(to: URL(fileURLWithPath: archive))
            return archive
        }
        _ = try await run("/usr/bin/tar", arguments)
        return archive
    }
}

@Suite("TarListing: reading GNU tar's verbose listing")
struct TarListingTests {
    private func listing(_ lines: [String]) throws(TarListing.Refusal) -> TarListing {
        try TarListing(parsing: Data((lines.joined(separator: "\n") + "\n").utf8))
    }

    private func refusal(_ lines: [String]) -> String? {
        do throws(TarListing.Refusal) {
            _ = try listing(lines)
            return nil
        } catch {
            return error.message
        }
    }

    private let top = #"drwxr-xr-x 0/0               0 2026-11-27 10:00 "dev/""#

    @Test("Names with spaces, arrows, quotes and escapes read exactly")
    func awkwardNames() throws {
        let parsed = try listing([
            top,
            #"-rw-r--r-- 0/0             123 2026-11-27 10:00 "dev/a -> b link to c""#,
            #"-rw-r--r-- 0/0               1 2026-11-27 10:00 "dev/q\"uote\\back\nline\303\251""#,
            #"lrwxrwxrwx 0/0               0 2026-11-27 10:00 "dev/l" -> "a -> b link to c""#,
            #"hrw-r--r-- 0/0               0 2026-11-27 10:00 "dev/h" link to "dev/a -> b link to c""#,
        ])
        #expect(parsed.topLevel == "dev")
        #expect(
            parsed.entries == [
                TarListing.Entry(name: "dev", kind: .directory),
                TarListing.Entry(name: "dev/a -> b link to c", kind: .file),
                TarListing.Entry(name: "dev/q\"uote\\back\nline\u{e9}", kind: .file),
                TarListing.Entry(name: "dev/l", kind: .symlink(target: "a -> b link to c")),
                TarListing.Entry(name: "dev/h", kind: .hardLink(target: "dev/a -> b link to c")),
            ])
    }

    @Test("Hard links must point at a file inside the top-level directory")
    func hardLinks() {
        #expect(
            refusal([top, #"hrw-r--r-- 0/0 0 2026-11-27 10:00 "dev/h" link to "other/a""#])?.contains("hard link")
                == true)
        #expect(
            refusal([top, #"hrw-r--r-- 0/0 0 2026-11-27 10:00 "dev/h" link to "/etc/shadow""#])?.contains(
                "hard link") == true)
        #expect(
            refusal([top, #"hrw-r--r-- 0/0 0 2026-11-27 10:00 "dev/h" link to "dev/../../etc/shadow""#])?.contains(
                "hard link") == true)
        #expect(refusal([top, #"hrw-r--r-- 0/0 0 2026-11-27 10:00 "dev/h" link to "dev""#]) != nil)
        #expect(
            refusal([
                top, #"lrwxrwxrwx 0/0 0 2026-11-27 10:00 "dev/l" -> "sub""#,
                #"hrw-r--r-- 0/0 0 2026-11-27 10:00 "dev/h" link to "dev/l/x""#,
            ])?.contains("beneath the symlink") == true)
    }

    @Test("Symlinks may climb within the top-level directory but not out of it")
    func symlinkTargets() {
        let nested = #"drwxr-xr-x 0/0 0 2026-11-27 10:00 "dev/a/b/""#
        #expect(refusal([top, nested, #"lrwxrwxrwx 0/0 0 2026-11-27 10:00 "dev/a/b/l" -> "../../x""#]) == nil)
        #expect(refusal([top, nested, #"lrwxrwxrwx 0/0 0 2026-11-27 10:00 "dev/a/b/l" -> "../../..""#]) != nil)
        // Through the parent and back is refused too: restored under another name,
        // `../dev` would name a different instance.
        #expect(refusal([top, #"lrwxrwxrwx 0/0 0 2026-11-27 10:00 "dev/l" -> "../dev/x""#]) != nil)
        #expect(refusal([top, #"lrwxrwxrwx 0/0 0 2026-11-27 10:00 "dev/l" -> "..""#]) != nil)
        #expect(refusal([top, #"lrwxrwxrwx 0/0 0 2026-11-27 10:00 "dev/l" -> """#]) != nil)
    }

    @Test("Lines that do not read as a listing are refused, not skipped")
    func unreadable() {
        #expect(refusal([]) == "the archive is empty")
        #expect(refusal([top, "tar: something odd"]) != nil)
        #expect(refusal([top, #"-rw-r--r-- 0/0 1 2026-11-27 10:00 "dev/unterminated"#]) != nil)
        #expect(refusal([top, #"-rw-r--r-- 0/0 1 2026-11-27 10:00 "dev/x" trailing"#]) != nil)
        #expect(refusal([top, #"-rw-r--r-- 0/0 1 2026-11-27 10:00 "dev/bad\qescape""#]) != nil)
        #expect(refusal([top, #"-rw-r--r-- 0/0 1 2026-11-27 10:00 "dev/\377""#])?.contains("UTF-8") == true)
        #expect(refusal([top, #"V--------- 0/0 0 2026-11-27 10:00 "label"--Volume Header--"#]) != nil)
        #expect(refusal([top, #"crw-rw-rw- 0/0 1,3 2026-11-27 10:00 "dev/null""#])?.contains("device") == true)
        #expect(refusal([top, #"-rw-r--r-- 0/0 1 2026-11-27 10:00 "dev//x""#]) != nil)
        #expect(refusal([top, #"-rw-r--r-- 0/0 1 2026-11-27 10:00 "dev/./x""#]) != nil)
        #expect(refusal([#"-rw-r--r-- 0/0 1 2026-11-27 10:00 "dev/x""#])?.contains("no top-level directory") == true)
    }
}
