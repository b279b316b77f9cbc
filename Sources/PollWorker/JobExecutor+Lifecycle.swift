import Foundation
import Models

extension JobExecutor {
    func createVM(_ parameters: JobParameters.CreateVM, _ context: Context) async throws(JobError) -> JSONValue {
        let template = try policy.templatePath(parameters.template)
        let request = try policy.resources(parameters)
        try policy.checkPerVM(request)
        // One create at a time, so two creates cannot both pass the totals check.
        await creations.acquire()
        do throws(JobError) {
            if Task.isCancelled { throw JobError.cancelled("cancelled before the VM was created") }
            let existing = try await list([], context)
            try policy.checkTotals(adding: request, to: existing)
            var arguments = ["create", "--name=\(parameters.vmName)"]
            if let cpus = parameters.config.cpus { arguments.append("--cpus=\(cpus)") }
            if let memory = parameters.config.memory { arguments.append("--memory=\(Self.flagNumber(memory))") }
            if let disk = parameters.config.disk { arguments.append("--disk=\(Self.flagNumber(disk))") }
            arguments.append(template)
            try await limactlStep(arguments, "create", context)
            await creations.release()
        } catch {
            await creations.release()
            throw error
        }
        if parameters.config.start {
            try await startVM(parameters.vmName, context)
        }
        return try await describe(parameters.vmName, context)
    }

    /// `limactl start` (or restart). Start leaves the VM's host agent running in
    /// its own process group, so killing limactl on a timeout or a cancellation
    /// does not stop the VM: an explicit `limactl stop -f` follows, with its own deadline.
    func startVM(_ name: String, _ context: Context, arguments: [String]? = nil) async throws(JobError) {
        let arguments = arguments ?? ["start", name]
        let outcome = await limactl.run(arguments, timeout: context.remaining, output: context.output)
        guard let failure = Limactl.failure(outcome, action: "limactl \(arguments[0])") else { return }
        if failure.status == .timedOut || failure.status == .cancelled {
            await forceStop(name)
        }
        throw failure
    }

    /// Stops a half-started VM; runs even when the job itself was cancelled.
    func forceStop(_ name: String) async {
        let limactl = self.limactl
        let logger = self.logger
        await Task(executorPreference: GlobalExecutor.preferred) {
            let outcome = await limactl.run(["stop", "-f", name], timeout: JobExecutor.cleanupTimeout)
            if let failure = Limactl.failure(outcome, action: "limactl stop -f") {
                logger.error(
                    "cleanup after a failed start did not stop the VM",
                    metadata: ["vm": .string(name), "error": .string(failure.message)])
            } else {
                logger.notice(
                    "stopped the VM after its start timed out or was cancelled", metadata: ["vm": .string(name)])
            }
        }.value
    }

    /// A GiB figure as limactl's float flags take it: `2`, `1.5`.
    static func flagNumber(_ value: Double) -> String {
        value.rounded() == value && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }
}
