import Foundation
import Testing

@testable import PollWorker

#if canImport(Glibc)
    import Glibc
#endif

private func shell(
    _ script: String, timeout: Duration = .seconds(30), grace: Duration = .seconds(2), cap: Int = 1 << 20,
    environment: [String: String] = ["PATH": "/usr/bin:/bin"], account: UserAccount? = nil,
    onOutput: (@Sendable (OutputStreamKind, Data) -> Void)? = nil
) -> CommandSpec {
    CommandSpec(
        executable: "/bin/sh", arguments: ["-c", script], environment: environment, account: account,
        timeout: timeout, killGrace: grace, maxOutputBytes: cap, onOutput: onOutput)
}

/// Whether `pid` is gone (or a zombie nobody has reaped yet: it runs nothing).
private func gone(_ pid: pid_t) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return true }
    guard let close = stat.lastIndex(of: ")") else { return true }
    return stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("Z")
}

/// The pids of this process's children, from every thread's `children` list.
private func childrenOfThisProcess() -> [Int32] {
    let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
    return tasks.flatMap { task in
        ((try? String(contentsOfFile: "/proc/self/task/\(task)/children", encoding: .utf8)) ?? "")
            .split(separator: " ").compactMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }
}

/// `/proc/PID/syscall`: the system call a blocked process waits in, and its arguments.
private func pendingSyscall(_ pid: Int32) -> String {
    (try? String(contentsOfFile: "/proc/\(pid)/syscall", encoding: .utf8)) ?? ""
}

@Suite("SubprocessRunner: limahost_spawn and one poll loop per child")
struct SubprocessRunnerTests {
    let runner = SubprocessRunner()

    @Test("stdout, stderr and the exit code come back")
    func outputAndExitCode() async {
        let outcome = await runner.run(shell("echo out; echo err >&2; exit 3"))
        #expect(outcome.termination == .exited(3))
        #expect(outcome.stdoutText == "out\n")
        #expect(outcome.stderrText == "err\n")
        #expect(!outcome.timedOut && !outcome.cancelled)
    }

    @Test("The child gets exactly the environment given and stdin /dev/null")
    func cleanEnvironment() async {
        let outcome = await runner.run(
            shell("env | sort; echo stdin=$(cat | wc -c)", environment: ["PATH": "/usr/bin:/bin", "ONLY": "this"]))
        #expect(outcome.termination == .exited(0))
        let lines = outcome.stdoutText.split(separator: "\n").map(String.init)
        // sh adds PWD; nothing of the test process's own environment arrives.
        #expect(lines.filter { !$0.hasPrefix("PWD=") } == ["ONLY=this", "PATH=/usr/bin:/bin", "stdin=0"])
    }

    @Test("No descriptor of the agent's but 0, 1 and 2 reaches the child")
    func noLeakedDescriptors() async throws {
        // Descriptors the test process holds open, none of them close-on-exec.
        let held = try (0..<3).map { _ in try FileHandle(forReadingFrom: URL(fileURLWithPath: "/dev/null")) }
        for handle in held { _ = fcntl(handle.fileDescriptor, F_SETFD, 0) }
        // exec: ls itself is the child, so only its own directory handle (3) is added.
        let outcome = await runner.run(shell("exec ls -1 /proc/self/fd"))
        #expect(outcome.termination == .exited(0))
        #expect(outcome.stdoutText == "0\n1\n2\n3\n")
        withExtendedLifetime(held) {}
    }

    @Test("Signal dispositions and the mask start at their defaults, in a session of its own")
    func defaultsAndSession() async throws {
        // Run directly, not through a shell: a shell blocks signals of its own while it waits.
        // The test process ignores SIGPIPE (Swift's runtime does); the child must not.
        let masks = await runner.run(
            CommandSpec(
                executable: "/bin/grep", arguments: ["-E", "^(SigIgn|SigBlk)", "/proc/self/status"], environment: [:],
                timeout: .seconds(30), maxOutputBytes: 4096))
        #expect(masks.stdoutText == "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n")
        let stat = await runner.run(
            CommandSpec(
                executable: "/bin/cat", arguments: ["/proc/self/stat"], environment: [:], timeout: .seconds(30),
                maxOutputBytes: 4096))
        // pid (comm) state ppid pgrp session …: the child leads its own group and session.
        let text = stat.stdoutText
        let pid = try #require(text.split(separator: " ").first.map(String.init))
        let fields = try #require(text.split(separator: ")").last).split(separator: " ").map(String.init)
        #expect(fields.count > 4 && fields[2] == pid && fields[3] == pid, "\(text)")
    }

    @Test("Output past the cap is read and dropped, so the child never blocks")
    func capped() async {
        let outcome = await runner.run(shell("head -c 3000000 /dev/zero | tr '\\0' a; echo done >&2", cap: 1000))
        #expect(outcome.termination == .exited(0))
        #expect(outcome.stdout.count == 1000)
        #expect(outcome.stdoutTruncated)
        #expect(outcome.stderrText == "done\n")
        #expect(!outcome.stderrTruncated)
    }

    @Test("The deadline sends SIGTERM to the group, then SIGKILL to what ignores it", .timeLimit(.minutes(1)))
    func deadlineKillsTheGroup() async throws {
        let outcome = await runner.run(
            shell(
                "trap '' TERM; sh -c 'trap \"\" TERM; sleep 60' & echo $!; sleep 60", timeout: .milliseconds(300),
                grace: .milliseconds(300)))
        #expect(outcome.timedOut)
        #expect(!outcome.cancelled)
        #expect(outcome.termination == .signaled(SIGKILL))
        let background = try #require(pid_t(outcome.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(gone(background), "the group member that ignored SIGTERM was killed too")
    }

    @Test("Cancelling the task stops the child and says so", .timeLimit(.minutes(1)))
    func cancellation() async {
        let ready = Latch()
        let task = Task {
            await runner.run(
                shell("echo ready; exec sleep 60", grace: .milliseconds(200)) { kind, data in
                    if kind == .stdout, String(decoding: data, as: UTF8.self).contains("ready") { ready.open() }
                })
        }
        await ready.wait()
        task.cancel()
        let outcome = await task.value
        #expect(outcome.cancelled)
        #expect(!outcome.timedOut)
        #expect(outcome.termination == .signaled(SIGTERM))
    }

    @Test("A gated child waits, ready, in read() on the gate, and execs only once it opens", .timeLimit(.minutes(1)))
    func gateHoldsExec() async throws {
        let gate = try #require(StartGate())
        let marker = NSTemporaryDirectory() + "gate-\(UUID().uuidString)"
        defer { unlink(marker) }
        let task = Task {
            await StartGate.$current.withValue(gate) { await runner.run(shell("touch '\(marker)'")) }
        }
        // The child blocks in read(2) (syscall 0) on the gate's descriptor: its pending
        // system call, as /proc/PID/syscall shows it. Found by condition, not by time.
        let waiting = "0 0x\(String(gate.fd, radix: 16)) "
        var child: Int32?
        while child == nil {
            child = childrenOfThisProcess().first { pendingSyscall($0).hasPrefix(waiting) }
            if child == nil { try await Task.sleep(for: .milliseconds(5)) }
        }
        #expect(access(marker, F_OK) != 0)
        // While it waits it holds nothing of the agent's but its own three and the gate: if
        // the agent died now, no other holder of the write end would keep it waiting.
        let held = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(try #require(child))/fd")
        #expect(held.compactMap { Int32($0) }.sorted() == [0, 1, 2, gate.fd])
        gate.open(true)
        let outcome = await task.value
        #expect(outcome.termination == .exited(0))
        #expect(access(marker, F_OK) == 0)
    }

    @Test(
        "An early start that changes a VM: its gate opens as its flush ends, and the child execs then, not before",
        .timeLimit(.minutes(1)))
    func gateOpenedByTheFlush() async throws {
        let gate = try #require(StartGate())
        let release = DispatchSemaphore(value: 0)
        let syncer = JournalSyncer(databasePath: "/state/agent.sqlite") { _ in
            release.wait()
            return 0
        }
        // What the runner does for an early start_vm: the flush admission began opens the gate.
        JobRunner.openEarly(gate, for: makeJob("job-change", vm: "a"), .journaled(syncer.begin()))
        let marker = NSTemporaryDirectory() + "gate-\(UUID().uuidString)"
        defer { unlink(marker) }
        let task = Task {
            await StartGate.$current.withValue(gate) { await runner.run(shell("touch '\(marker)'")) }
        }
        let waiting = "0 0x\(String(gate.fd, radix: 16)) "
        while !childrenOfThisProcess().contains(where: { pendingSyscall($0).hasPrefix(waiting) }) {
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(access(marker, F_OK) != 0)
        release.signal()
        let outcome = await task.value
        #expect(outcome.termination == .exited(0))
        #expect(access(marker, F_OK) == 0)
    }

    @Test("An early start that only reads execs before its flush ends", .timeLimit(.minutes(1)))
    func readsDoNotWaitForTheDisk() async throws {
        let release = DispatchSemaphore(value: 0)
        let syncer = JournalSyncer(databasePath: "/state/agent.sqlite") { _ in
            release.wait()
            return 0
        }
        let gate = try #require(StartGate())
        JobRunner.openEarly(gate, for: makeInfoJob("job-read", vm: "a"), .journaled(syncer.begin()))
        let marker = NSTemporaryDirectory() + "gate-\(UUID().uuidString)"
        defer { unlink(marker) }
        let read = Task {
            await StartGate.$current.withValue(gate) { await runner.run(shell("touch '\(marker)'")) }
        }
        // The flush is held: the child runs all the same.
        let deadline = ContinuousClock.now + .seconds(20)
        while access(marker, F_OK) != 0, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(access(marker, F_OK) == 0, "the read waited for its flush")
        #expect(syncer.flushes == 0)
        release.signal()
        #expect(await read.value.termination == .exited(0))
    }

    @Test("A refused gate ends the child before execve; only the job's first child is gated")
    func refusedGate() async throws {
        let gate = try #require(StartGate())
        let marker = NSTemporaryDirectory() + "gate-\(UUID().uuidString)"
        defer { unlink(marker) }
        gate.open(false)
        let outcome = await StartGate.$current.withValue(gate) { await runner.run(shell("touch '\(marker)'")) }
        guard case .notStarted(let message) = outcome.termination else {
            Issue.record("expected notStarted, got \(outcome.termination)")
            return
        }
        #expect(message.contains("canceled"))
        #expect(access(marker, F_OK) != 0)
        // The gate was taken: a second child under it runs ungated.
        let second = await StartGate.$current.withValue(gate) { await runner.run(shell("echo second")) }
        #expect(second.termination == .exited(0))
        #expect(second.stdoutText == "second\n")
    }

    @Test("A missing executable is reported, not started")
    func missingExecutable() async {
        let spec = CommandSpec(
            executable: "/nonexistent/limactl", arguments: [], environment: [:], timeout: .seconds(5),
            maxOutputBytes: 100)
        let outcome = await runner.run(spec)
        guard case .notStarted(let message) = outcome.termination else {
            Issue.record("expected notStarted, got \(outcome.termination)")
            return
        }
        #expect(message.contains("No such file or directory"))
    }

    @Test("As root, the child runs as the account: its uid, its gid, no supplementary group")
    func dropsToTheAccount() async throws {
        guard geteuid() == 0, let name = ProcessInfo.processInfo.environment["LIMAHOST_DEV_USER"] else { return }
        let account = try #require(UserAccount.lookup(name), "make dev-user creates \(name)")
        let outcome = await runner.run(shell("id -u; id -g; id -G; cd /tmp && pwd", account: account))
        #expect(outcome.termination == .exited(0))
        #expect(outcome.stdoutText == "\(account.uid)\n\(account.gid)\n\(account.gid)\n/tmp\n")
    }
}
