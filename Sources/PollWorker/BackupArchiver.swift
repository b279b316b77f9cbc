import Foundation
import Models

#if canImport(Glibc)
    import Glibc
#endif

/// Backups of Lima instance directories as tar.gz archives, and their restore
/// (`backup_vm`, `restore_vm`: control-plane-api.md §4.2).
///
/// GNU tar does the archiving, always run with an argument array, the
/// environment `PATH=/usr/bin:/bin` (tar finds gzip there) and `LC_ALL=C`,
/// `--force-local` (a colon in a name never means a remote host), and the job's
/// deadline. The agent runs as root and tar with it; the Lima home belongs to
/// the unprivileged Lima user, who can rename anything in it at any moment. So
/// directories there are opened once and then reached by descriptor: tar is
/// pointed at them as `/proc/<agent pid>/fd/<n>` (`DirectoryHandle.childPath`),
/// and everything after tar (checks, chown, the final rename, cleanup) uses the
/// *at system calls, never following a symlink.
///
/// Errors are `JobError`s: `backup_failed` (status failed) unless said
/// otherwise; a deadline that passes is `timed_out`, a cancellation `cancelled`,
/// as for limactl.
public struct BackupArchiver: Sendable {
    /// Bytes of tar's output kept: enough for the listing of any instance
    /// directory. A listing longer than this is refused, never trusted in part.
    public static let listingLimit = 16 << 20
    /// The environment tar runs with, and nothing else.
    public static let environment = ["PATH": "/usr/bin:/bin", "LC_ALL": "C"]
    /// Names left out of every backup: sockets (tar skips them anyway) and pid files.
    public static let excludedPatterns = ["*.sock", "*.pid"]

    private let runner: any CommandRunner
    /// GNU tar.
    public let tarPath: String
    /// Between SIGTERM and SIGKILL when tar overruns its deadline.
    public let killGrace: Duration

    /// `tarPath` nil: `tar` on `/usr/bin:/bin`, else `/bin/tar`.
    public init(runner: any CommandRunner, tarPath: String? = nil, killGrace: Duration = .seconds(5)) {
        self.runner = runner
        self.tarPath = tarPath ?? ExecutableLookup.find("tar", path: Self.environment["PATH"]) ?? "/bin/tar"
        self.killGrace = killGrace
    }

    // MARK: - Backup

    /// Archives `instanceDir` as a tar.gz at `archive`, with the directory's own
    /// name as the single top-level entry (`tar -C <parent> -czf … <name>`),
    /// leaving out `*.sock` and `*.pid`. Sparse files (a VM's disk images) stay
    /// sparse (`--sparse`). tar exiting 1 ("file changed as we read it") fails:
    /// the caller stops the VM first so that the copy is consistent.
    ///
    /// The archive is written as `.<name>.tmp-<uuid>` (mode 0600) in the archive's
    /// directory, which is created (0700) when missing; it is then read once for
    /// its size and SHA-256 and fsync'd, linked into place without ever replacing
    /// anything (an existing archive is refused: backups are never overwritten),
    /// and the directory is fsync'd. The temporary file is removed on any failure.
    ///
    /// `owner`: when given and the agent is root, the instance directory must
    /// belong to this uid, so that root never archives (and later hands back)
    /// a directory the Lima user pointed it at but could not read themselves.
    /// The instance directory itself must not be a symlink.
    public func create(
        instanceDir: String, archive: String, owner: UserAccount? = nil, timeout: Duration
    ) async throws(JobError) -> (sizeBytes: Int64, sha256: String) {
        let (parentPath, name) = try Self.split(instanceDir, what: "instance directory")
        let (archiveDirectory, archiveName) = try Self.split(archive, what: "backup archive")
        if Self.exists(archive) {
            throw Self.failure("the backup archive \(archive) already exists; backups are never overwritten")
        }
        let parent = try Self.openDirectory(parentPath, what: "the directory holding the instance")
        let cName = DirectoryHandle.name(name)
        guard let info = parent.status(of: cName) else {
            throw Self.failure("the instance directory \(instanceDir) does not exist")
        }
        guard (info.st_mode & S_IFMT) == S_IFDIR else {
            throw Self.failure("the instance directory \(instanceDir) is not a directory (a symlink is refused)")
        }
        if let owner, geteuid() == 0, info.st_uid != owner.uid {
            throw Self.failure(
                "the instance directory \(instanceDir) belongs to uid \(info.st_uid), not to \(owner.name)")
        }
        try Self.makeDirectory(archiveDirectory)

        let temporary = "\(archiveDirectory)/.\(archiveName).tmp-\(UUID().uuidString.lowercased())"
        let created = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard created >= 0 else {
            throw Self.failure("cannot create \(temporary): \(Self.describe(errno))")
        }
        close(created)
        do throws(JobError) {
            var arguments = [
                "--create", "--gzip", "--force-local", "--file=\(temporary)", "--format=gnu", "--sparse",
                "--numeric-owner", "--warning=no-file-ignored",
            ]
            arguments += Self.excludedPatterns.map { "--exclude=\($0)" }
            arguments += ["--directory=\(parent.childPath)", "--", name]
            let outcome = await runner.run(spec(arguments, timeout: timeout, maxOutputBytes: 1 << 20))
            if let failure = Self.failure(outcome, action: "tar (archiving \(instanceDir))") { throw failure }

            let digest: FileDigest
            do throws(FileBytes.Failure) {
                digest = try await FileDigest.of(path: temporary, sync: true)
            } catch {
                throw Self.failure("cannot read back \(temporary): \(error)")
            }
            try Self.commit(temporary, to: archive)
            let directory = try Self.openDirectory(archiveDirectory, what: "the backup directory")
            do throws(FileBytes.Failure) {
                try directory.sync()
            } catch {
                // Not known to be durable: take it back rather than report it made.
                _ = unlink(archive)
                throw Self.failure("cannot flush the backup directory \(archiveDirectory): \(error)")
            }
            return (digest.sizeBytes, digest.sha256)
        } catch {
            _ = unlink(temporary)
            throw error
        }
    }

    /// Moves the finished temporary file to `archive` without replacing anything:
    /// link(2) fails when `archive` exists. Where hard links are not supported,
    /// a rename after a last check.
    private static func commit(_ temporary: String, to archive: String) throws(JobError) {
        if link(temporary, archive) == 0 {
            _ = unlink(temporary)
            return
        }
        let code = errno
        if code == EEXIST {
            throw failure("the backup archive \(archive) already exists; backups are never overwritten")
        }
        guard code == EPERM || code == EOPNOTSUPP || code == EXDEV || code == EMLINK else {
            throw failure("cannot move the archive into place at \(archive): \(describe(code))")
        }
        if exists(archive) {
            throw failure("the backup archive \(archive) already exists; backups are never overwritten")
        }
        guard rename(temporary, archive) == 0 else {
            throw failure("cannot move the archive into place at \(archive): \(describe(errno))")
        }
    }

    // MARK: - Verify

    /// Checks the archive before a restore and returns its single top-level
    /// directory name.
    ///
    /// With `sha256`, the archive's SHA-256 must match it (case-insensitive hex).
    /// Then tar lists it (`--list --verbose --numeric-owner --quoting-style=c`):
    /// a listing tar could not finish (a corrupt or truncated gzip or tar stream),
    /// or longer than `listingLimit`, is refused; each entry is checked by
    /// `TarListing` (absolute names, `..`, several top-level names, devices and
    /// fifos, symlinks leading out, hard links to outside). The archive itself
    /// must be a regular file, not a symlink.
    public func verify(archive: String, sha256 expected: String?, timeout: Duration) async throws(JobError) -> String {
        try Self.requireArchive(archive)
        if let expected {
            let digest: FileDigest
            do throws(FileBytes.Failure) {
                digest = try await FileDigest.of(path: archive)
            } catch {
                throw Self.failure("cannot read the backup archive \(archive): \(error)")
            }
            guard digest.sha256 == expected.lowercased() else {
                throw Self.failure(
                    "the backup archive \(archive) has sha256 \(digest.sha256), not the expected \(expected)")
            }
        }
        let arguments = [
            "--list", "--verbose", "--gzip", "--force-local", "--numeric-owner", "--quoting-style=c",
            "--file=\(archive)",
        ]
        let outcome = await runner.run(spec(arguments, timeout: timeout, maxOutputBytes: Self.listingLimit))
        if let failure = Self.failure(outcome, action: "tar (listing \(archive))") { throw failure }
        guard !outcome.stdoutTruncated else {
            throw Self.failure("the listing of \(archive) is longer than \(Self.listingLimit) bytes; refused")
        }
        do throws(TarListing.Refusal) {
            return try TarListing(parsing: outcome.stdout).topLevel
        } catch {
            throw Self.failure("the backup archive \(archive) is refused: \(error.message)")
        }
    }

    // MARK: - Restore

    /// Extracts the archive's `topLevel` directory as `<limaHome>/<name>` and
    /// returns that path. Call `verify` first: it is what checks the archive's
    /// entries; this re-checks the extracted tree (`ExtractedTree`) as a second line.
    ///
    /// `<limaHome>/<name>` existing is `rejected` with `vm_exists`. tar extracts
    /// into a fresh root-only staging directory `<limaHome>/.restore-<uuid>`
    /// (`--no-same-owner --no-overwrite-dir`, permissions kept, set-id bits then
    /// cleared); when `owner` is given and the agent is root, the tree is given
    /// to owner.uid:owner.gid (lchown, symlinks not followed); then
    /// `staging/<topLevel>` is renamed to `<limaHome>/<name>` (one filesystem, so
    /// atomic; the name is claimed first so nothing that appeared meanwhile is
    /// replaced) and the staging directory removed. On any failure the staging
    /// directory and all in it are removed, and `<limaHome>/<name>` is not created.
    public func extract(
        archive: String, topLevel: String, into limaHome: String, as name: String, owner: UserAccount?,
        timeout: Duration
    ) async throws(JobError) -> String {
        try Self.requireComponent(topLevel, what: "top-level directory")
        try Self.requireComponent(name, what: "instance name")
        try Self.requireArchive(archive)
        let home = try Self.openDirectory(limaHome, what: "the Lima home")
        let target = limaHome.hasSuffix("/") ? limaHome + name : limaHome + "/" + name
        let cName = DirectoryHandle.name(name)
        if home.status(of: cName) != nil {
            throw JobError.rejected(.vmExists, "an instance directory \(target) already exists")
        }

        let stagingName = DirectoryHandle.name(".restore-\(UUID().uuidString.lowercased())")
        guard mkdirat(home.fd, stagingName, 0o700) == 0 else {
            throw Self.failure("cannot create a staging directory in \(limaHome): \(Self.describe(errno))")
        }
        let staging: DirectoryHandle
        do throws(FileBytes.Failure) {
            staging = try DirectoryHandle(in: home, name: stagingName)
        } catch {
            _ = unlinkat(home.fd, stagingName, AT_REMOVEDIR)
            throw Self.failure("cannot open the staging directory: \(error)")
        }
        guard let stagingInfo = staging.status(), stagingInfo.st_uid == geteuid(),
            (stagingInfo.st_mode & 0o077) == 0
        else {
            // Not the directory just made: someone swapped it. Leave theirs alone.
            throw Self.failure("the staging directory \(staging.path) was replaced while in use")
        }

        do throws(JobError) {
            let arguments = [
                "--extract", "--gzip", "--force-local", "--file=\(archive)", "--directory=\(staging.childPath)",
                "--no-same-owner", "--same-permissions", "--no-overwrite-dir",
            ]
            let outcome = await runner.run(spec(arguments, timeout: timeout, maxOutputBytes: 1 << 20))
            if let failure = Self.failure(outcome, action: "tar (extracting \(archive))") { throw failure }

            var chownTo: (uid: UInt32, gid: UInt32)?
            if let owner, geteuid() == 0 { chownTo = (owner.uid, owner.gid) }
            do throws(ExtractedTree.Refusal) {
                try ExtractedTree.settle(topLevel, in: staging, owner: chownTo)
            } catch {
                throw Self.failure("the restored directory is refused: \(error.message)")
            }

            // Claim the name (fails if it appeared meanwhile), then replace the
            // empty claim with the restored tree in one rename.
            guard mkdirat(home.fd, cName, 0o700) == 0 else {
                let code = errno
                if code == EEXIST {
                    throw JobError.rejected(.vmExists, "an instance directory \(target) already exists")
                }
                throw Self.failure("cannot create \(target): \(Self.describe(code))")
            }
            guard renameat(staging.fd, DirectoryHandle.name(topLevel), home.fd, cName) == 0 else {
                let code = errno
                _ = unlinkat(home.fd, cName, AT_REMOVEDIR)
                throw Self.failure("cannot move the restored directory to \(target): \(Self.describe(code))")
            }
            _ = fsync(home.fd)
        } catch {
            ExtractedTree.removeContents(of: staging)
            _ = unlinkat(home.fd, stagingName, AT_REMOVEDIR)
            throw error
        }
        // Anything else the archive held (verify allows nothing else) goes with staging.
        ExtractedTree.removeContents(of: staging)
        _ = unlinkat(home.fd, stagingName, AT_REMOVEDIR)
        return target
    }

    /// The bytes of one member (`tar -xzOf <archive> -- <path>`, no wildcards),
    /// e.g. `<top>/lima.yaml` for a resource check before a restore. Nil when tar
    /// fails, the member is missing, or it is longer than `maxBytes`.
    public func readMember(
        archive: String, path: String, timeout: Duration, maxBytes: Int = 1 << 20
    ) async -> Data? {
        let arguments = [
            "--extract", "--gzip", "--force-local", "--to-stdout", "--no-wildcards", "--file=\(archive)", "--", path,
        ]
        let outcome = await runner.run(spec(arguments, timeout: timeout, maxOutputBytes: maxBytes))
        guard Self.failure(outcome, action: "tar") == nil, !outcome.stdoutTruncated else { return nil }
        return outcome.stdout
    }

    // MARK: - Helpers

    private func spec(_ arguments: [String], timeout: Duration, maxOutputBytes: Int) -> CommandSpec {
        CommandSpec(
            executable: tarPath, arguments: arguments, environment: Self.environment, workingDirectory: "/",
            timeout: timeout, killGrace: killGrace, maxOutputBytes: maxOutputBytes)
    }

    /// The job error for a tar run that did not succeed, or nil when it exited 0.
    static func failure(_ outcome: CommandOutcome, action: String) -> JobError? {
        if let stopped = JobError.stopped(outcome, action: action) { return stopped }
        switch outcome.termination {
        case .exited(0):
            return nil
        case .notStarted(let reason):
            return failure("tar could not be started: \(reason)")
        case .signaled(let signal):
            return failure("\(action): tar was killed by signal \(signal)")
        case .exited(let code):
            let lines = outcome.stderrText.split(whereSeparator: \.isNewline).suffix(3)
            let detail = String(lines.joined(separator: "; ").prefix(600))
            return failure("\(action): tar exited \(code)\(detail.isEmpty ? "" : ": \(detail)")")
        }
    }

    private static func failure(_ message: String) -> JobError {
        .failed(.backupFailed, message)
    }

    private static func describe(_ code: Int32) -> String {
        String(cString: strerror(code))
    }

    private static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    /// An absolute path split into its parent directory and last component.
    private static func split(_ path: String, what: String) throws(JobError) -> (parent: String, name: String) {
        var trimmed = Substring(path)
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        guard trimmed.hasPrefix("/"), let slash = trimmed.lastIndex(of: "/") else {
            throw failure("the \(what) \(path) is not an absolute path")
        }
        let name = String(trimmed[trimmed.index(after: slash)...])
        try requireComponent(name, what: what)
        let parent = slash == trimmed.startIndex ? "/" : String(trimmed[..<slash])
        return (parent, name)
    }

    private static func requireComponent(_ name: String, what: String) throws(JobError) {
        guard !name.isEmpty, name != ".", name != "..", !name.contains("/"), !name.contains("\0") else {
            throw failure("the \(what) name \"\(name)\" is not a plain file name")
        }
    }

    private static func requireArchive(_ archive: String) throws(JobError) {
        var info = stat()
        guard lstat(archive, &info) == 0 else {
            throw failure("cannot read the backup archive \(archive): \(describe(errno))")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw failure("the backup archive \(archive) is not a regular file")
        }
    }

    private static func makeDirectory(_ path: String) throws(JobError) {
        var info = stat()
        if stat(path, &info) == 0 {
            guard (info.st_mode & S_IFMT) == S_IFDIR else { throw failure("\(path) is not a directory") }
            return
        }
        do {
            try FileManager.default.createDirectory(
                atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw failure("cannot create the backup directory \(path): \(error.localizedDescription)")
        }
    }

    private static func openDirectory(_ path: String, what: String) throws(JobError) -> DirectoryHandle {
        do throws(FileBytes.Failure) {
            return try DirectoryHandle(path: path)
        } catch {
            throw failure("cannot open \(what) \(path): \(error)")
        }
    }
}
