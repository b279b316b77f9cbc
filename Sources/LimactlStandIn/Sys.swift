import Foundation
import Glibc

/// Thin wrappers over the system calls the stand-in needs, with Go-style error texts.
enum Sys {
    static func env(_ key: String) -> String? { ProcessInfo.processInfo.environment[key] }

    static func write(_ fd: Int32, _ text: String) {
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress?.advanced(by: offset), $0.count - offset) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            offset += n
        }
    }

    /// `strerror` lower-cased at the start, as Go's syscall errors read.
    static func errorText(_ code: Int32) -> String {
        let text = String(cString: strerror(code))
        return text.prefix(1).lowercased() + text.dropFirst()
    }

    /// The whole file; errors read like Go's `os.ReadFile` (`open PATH: no such file or directory`).
    static func readFile(_ path: String) throws -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CLIError.fatal("open \(path): \(errorText(errno))") }
        defer { close(fd) }
        var data = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw CLIError.fatal("read \(path): \(errorText(errno))") }
            if n == 0 { break }
            data += buffer.prefix(n)
        }
        return String(decoding: data, as: UTF8.self)
    }

    static func writeFile(_ path: String, _ text: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw CLIError.fatal("open \(path): \(errorText(errno))") }
        write(fd, text)
        close(fd)
    }

    /// An empty sparse file of `size` bytes (the VM disk).
    static func createSparseFile(_ path: String, size: Int64) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw CLIError.fatal("open \(path): \(errorText(errno))") }
        defer { close(fd) }
        guard ftruncate(fd, off_t(size)) == 0 else { throw CLIError.fatal("truncate \(path): \(errorText(errno))") }
    }

    static func makeDirectory(_ path: String, mode: Int) throws {
        do {
            try FileManager.default.createDirectory(
                atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: mode])
        } catch {
            throw CLIError.fatal("mkdir \(path): \(error.localizedDescription)")
        }
    }

    static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    /// `kill(pid, 0)` succeeds (or is refused with EPERM) and the process is not a zombie.
    static func isAlive(_ pid: Int32) -> Bool {
        guard pid > 0 else { return false }
        if kill(pid, 0) != 0 && errno != EPERM { return false }
        guard let stat = try? readFile("/proc/\(pid)/stat"), let paren = stat.lastIndex(of: ")") else { return true }
        return !stat[paren...].hasPrefix(") Z")
    }

    static func nowMs() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    }

    static func sleepMs(_ ms: Int) { usleep(UInt32(min(max(0, ms), 1_000_000)) * 1000) }

    static func selfExecutable() -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { return "/proc/self/exe" }
        return String(decoding: buffer.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// posix_spawn with clean signal state and only fds 0–2 kept. A `nil` stdio entry is inherited;
    /// a path is opened (stdin read-only, stdout/stderr truncated). `newSession` is `setsid()`.
    static func spawn(_ argv: [String], env: [String: String], stdio: [String?], newSession: Bool) throws -> pid_t {
        let program = argv.first ?? "/bin/false"
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (fd, path) in stdio.enumerated() {
            guard let path else { continue }
            let flags = fd == 0 ? O_RDONLY : (O_WRONLY | O_CREAT | O_TRUNC)
            posix_spawn_file_actions_addopen(&actions, Int32(fd), path, flags, 0o644)
        }
        let descriptors = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        for fd in descriptors.compactMap({ Int32($0) }) where fd > 2 { posix_spawn_file_actions_addclose(&actions, fd) }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attributes, &mask)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGINT, SIGTERM, SIGCHLD, SIGPIPE, SIGHUP] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        let setsid: Int32 = 0x80  // POSIX_SPAWN_SETSID (glibc 2.26+); Swift's Glibc module lacks _GNU_SOURCE.
        let flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | (newSession ? setsid : 0)
        posix_spawnattr_setflags(&attributes, Int16(flags))

        let cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        let cEnv: [UnsafeMutablePointer<CChar>?] =
            env.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for pointer in cArgs + cEnv { free(pointer) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, program, &actions, &attributes, cArgs, cEnv)
        guard rc == 0 else { throw CLIError.fatal("fork/exec \(program): \(errorText(rc))") }
        return pid
    }

    /// The raw wait status once `pid` has exited; nil while it runs (non-blocking mode).
    static func reap(_ pid: pid_t, block: Bool) -> Int32? {
        var status: Int32 = 0
        while true {
            let r = waitpid(pid, &status, block ? 0 : WNOHANG)
            if r == pid { return status }
            if r < 0 && errno == EINTR { continue }
            return r == 0 ? nil : 0  // ECHILD: already reaped elsewhere
        }
    }

    /// The exit code of a normal exit, or nil when the process was killed by a signal.
    static func exitCode(_ status: Int32) -> Int32? { status & 0x7f == 0 ? (status >> 8) & 0xff : nil }

    /// Go's `*exec.ExitError` text: `exit status N` or `signal: killed`.
    static func describe(_ status: Int32) -> String {
        if let code = exitCode(status) { return "exit status \(code)" }
        let name = strsignal(status & 0x7f).map { String(cString: $0) } ?? "signal \(status & 0x7f)"
        return "signal: " + name.prefix(1).lowercased() + name.dropFirst()
    }
}
