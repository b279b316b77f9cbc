import Foundation
import Models

extension JobExecutor {
    /// `backup_vm`: a tar.gz of the instance directory at `backupPath` inside
    /// `backupDir`. A running VM is stopped for a consistent copy and started again
    /// afterwards; with `stopIfRunning: false` a running VM is refused instead.
    func backupVM(_ parameters: JobParameters.BackupVM, _ context: Context) async throws(JobError) -> JSONValue {
        let archive = try policy.backupPath(parameters.backupPath)
        let vm = try await info(parameters.vmName, context)
        let running = vm.status == "Running"
        if running && !parameters.stopIfRunning {
            throw .rejected(
                .policyDenied, "\(vm.name) is Running and stopIfRunning is false: stop it first, or allow the stop")
        }
        if running { try await limactlStep(["stop", vm.name], "stop", context) }
        let created: (sizeBytes: Int64, sha256: String)
        do throws(JobError) {
            created = try await archiver.create(
                instanceDir: vm.dir, archive: archive, owner: limactl.account, timeout: context.remaining)
        } catch {
            if running { await restartAfterBackup(vm.name, context) }
            throw error
        }
        if running {
            do throws(JobError) {
                try await startVM(vm.name, context)
            } catch {
                throw JobError(
                    error.status, error.code,
                    "the backup \(archive) was written, but \(vm.name) did not start again: \(error.message)")
            }
        }
        return try Self.encode(
            ResultData.Backup(
                path: archive, sizeBytes: created.sizeBytes, sha256: created.sha256, vmName: vm.name, createdAt: now()))
    }

    /// After a failed backup of a VM it stopped, it starts the VM again (best effort, logged).
    private func restartAfterBackup(_ name: String, _ context: Context) async {
        do throws(JobError) {
            try await startVM(name, context)
        } catch {
            logger.error(
                "the VM stopped for a failed backup did not start again",
                metadata: ["vm": .string(name), "error": .string(error.message)])
        }
    }

    /// `restore_vm`: the archive is verified (its sha256 when given, and that every
    /// path stays inside one top-level directory), its VM checked against the
    /// resource limits, then unpacked as `vmName` atomically: a failed restore
    /// leaves nothing behind. The VM is started when asked.
    func restoreVM(_ parameters: JobParameters.RestoreVM, _ context: Context) async throws(JobError) -> JSONValue {
        let archive = try policy.backupPath(parameters.backupPath)
        guard FileManager.default.fileExists(atPath: archive) else {
            throw .failed(.backupFailed, "backupPath: \(archive) does not exist")
        }
        guard let limaHome = limactl.limaHome else {
            throw .failed(.limactlUnavailable, "LIMA_HOME is not known")
        }
        let topLevel = try await archiver.verify(
            archive: archive, sha256: parameters.sha256, timeout: context.remaining)
        // The restored VM's size, from its own lima.yaml, against the limits.
        let limaYAML = await archiver.readMember(
            archive: archive, path: "\(topLevel)/lima.yaml", timeout: context.remaining)
        guard let limaYAML else {
            throw .failed(.backupFailed, "the archive has no readable \(topLevel)/lima.yaml: not a Lima instance")
        }
        let declared = TemplateResources.parse(limaYAML)
        let request = JobPolicy.Resources(
            cpus: declared.cpus ?? JobPolicy.limaDefaults.cpus,
            memory: declared.memory ?? JobPolicy.limaDefaults.memory,
            disk: declared.disk ?? JobPolicy.limaDefaults.disk)
        try policy.checkPerVM(request)
        await creations.acquire()
        do throws(JobError) {
            let existing = try await list([], context)
            if existing.contains(where: { $0.name == parameters.vmName }) {
                throw JobError.rejected(.vmExists, "a VM named \(parameters.vmName) already exists")
            }
            try policy.checkTotals(adding: request, to: existing)
            _ = try await archiver.extract(
                archive: archive, topLevel: topLevel, into: limaHome, as: parameters.vmName, owner: limactl.account,
                timeout: context.remaining)
            await creations.release()
        } catch {
            await creations.release()
            throw error
        }
        if parameters.start { try await startVM(parameters.vmName, context) }
        return try await describe(parameters.vmName, context)
    }

    /// `collect_logs`: the last `lines` lines of the instance's host-agent and serial
    /// logs, each at most `collectedBytes`.
    func collectLogs(_ parameters: JobParameters.CollectLogs, _ context: Context) async throws(JobError) -> JSONValue {
        let vm = try await info(parameters.vmName, context)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: vm.dir)) ?? []
        var files: [String: String] = [:]
        for name in names.sorted() where Self.isCollectedLog(name) {
            let path = vm.dir + "/" + name
            guard let text = Self.tail(path, lines: parameters.lines, maxBytes: Self.collectedBytes) else { continue }
            files[name] = text
        }
        return try Self.encode(ResultData.Logs(files: files))
    }

    /// Bytes kept of each collected log file (its end).
    static let collectedBytes = 262_144

    /// Lima's host agent logs (`ha.stdout.log`, `ha.stderr.log`) and the serial consoles (`serial*.log`).
    static func isCollectedLog(_ name: String) -> Bool {
        name.hasSuffix(".log") && (name.hasPrefix("ha.") || name.hasPrefix("serial"))
    }

    /// The last `lines` lines of a file, reading at most its last `maxBytes`; nil
    /// for anything but a regular file (a symlink in the instance directory is not followed).
    static func tail(_ path: String, lines: Int, maxBytes: Int) -> String? {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
            attributes[.type] as? FileAttributeType == .typeRegular,
            let handle = FileHandle(forReadingAtPath: path)
        else { return nil }
        defer { try? handle.close() }
        let size = (attributes[.size] as? NSNumber)?.uint64Value ?? 0
        let start = size > UInt64(maxBytes) ? size - UInt64(maxBytes) : 0
        do {
            try handle.seek(toOffset: start)
        } catch {
            return nil
        }
        let data = handle.readDataToEndOfFile()
        var text = String(decoding: data, as: UTF8.self)
        // A read that started mid-file starts at the next whole line.
        if start > 0, let newline = text.firstIndex(of: "\n") { text = String(text[text.index(after: newline)...]) }
        let kept = text.split(separator: "\n", omittingEmptySubsequences: false)
        let trailingNewline = text.hasSuffix("\n")
        let body = trailingNewline ? kept.dropLast() : kept[...]
        return body.suffix(lines).joined(separator: "\n") + (trailingNewline ? "\n" : "")
    }

    /// One VM as `limactl list` shows it.
    func info(_ name: String, _ context: Context) async throws(JobError) -> VMInfo {
        guard let vm = try await list([name], context).first(where: { $0.name == name }) else {
            throw .failed(.vmNotFound, "no VM named \(name)")
        }
        return vm
    }
}
