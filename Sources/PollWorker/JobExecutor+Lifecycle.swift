import Foundation
import Models

extension JobExecutor {
    func createVM(_ parameters: JobParameters.CreateVM, _ context: Context) async throws(JobError) -> JSONValue {
        let template = try templatePath(parameters.template)
        try checkPerVMLimits(parameters.config)
        var arguments = ["create", "--name=\(parameters.vmName)"]
        if let cpus = parameters.config.cpus { arguments.append("--cpus=\(cpus)") }
        if let memory = parameters.config.memory { arguments.append("--memory=\(Self.flagNumber(memory))") }
        if let disk = parameters.config.disk { arguments.append("--disk=\(Self.flagNumber(disk))") }
        arguments.append(template)
        try await limactlStep(arguments, "create", context)
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
        let outcome = await limactl.run(arguments, timeout: context.remaining)
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
        await Task {
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

    /// `<templatesDir>/<name>.yaml`, only for allowed names without a path component.
    func templatePath(_ name: String) throws(JobError) -> String {
        if name.isEmpty || name.contains("/") || name.contains("\\") || name.hasPrefix(".") || name.contains("\0") {
            throw .rejected(.policyDenied, "template: \"\(name)\" is not a template name (no paths allowed)")
        }
        guard config.security.allowedVmTemplates.contains(name) else {
            throw .rejected(
                .policyDenied,
                "template: \"\(name)\" is not in security.allowedVmTemplates (\(config.security.allowedVmTemplates.joined(separator: ", ")))"
            )
        }
        let path = "\(config.templatesDir)/\(name).yaml"
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw .rejected(.policyDenied, "template: \(path) does not exist or cannot be read")
        }
        return path
    }

    func checkPerVMLimits(_ vmConfig: JobParameters.CreateVM.Config) throws(JobError) {
        let limits = config.resourceLimits
        if let cpus = vmConfig.cpus, cpus > limits.maxCpuPerVm {
            throw .rejected(
                .resourceLimitExceeded,
                "config.cpus: \(cpus) exceeds resourceLimits.maxCpuPerVm (\(limits.maxCpuPerVm))")
        }
        if let memory = vmConfig.memory, memory > Double(limits.maxMemoryPerVm) {
            throw .rejected(
                .resourceLimitExceeded,
                "config.memory: \(Self.flagNumber(memory)) GiB exceeds resourceLimits.maxMemoryPerVm (\(limits.maxMemoryPerVm))"
            )
        }
        if let disk = vmConfig.disk, disk > Double(limits.maxDiskPerVm) {
            throw .rejected(
                .resourceLimitExceeded,
                "config.disk: \(Self.flagNumber(disk)) GiB exceeds resourceLimits.maxDiskPerVm (\(limits.maxDiskPerVm))"
            )
        }
    }

    /// A GiB figure as limactl's float flags take it: `2`, `1.5`.
    static func flagNumber(_ value: Double) -> String {
        value.rounded() == value && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }
}
