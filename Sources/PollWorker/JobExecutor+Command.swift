import Foundation
import Models

extension JobExecutor {
    /// `limactl shell [--workdir W] NAME -- …`: a `command` string runs through the
    /// guest's `sh -c`; `argv` runs exactly as given. limactl quotes every word and
    /// runs it through the guest's login shell; leading `NAME=VALUE` words would be
    /// half-quoted (limactl-reference.md §1.7), so env goes through `env` first
    /// and argv[0] never contains `=` (the decoder refuses it).
    static func shellArguments(_ parameters: JobParameters.ExecuteCommand) -> [String] {
        var arguments = ["shell"]
        if let workdir = parameters.workdir { arguments.append("--workdir=\(workdir)") }
        arguments += [parameters.vmName, "--"]
        let words: [String]
        switch parameters.command {
        case .shell(let text): words = ["sh", "-c", text]
        case .argv(let argv): words = argv
        }
        if !parameters.env.isEmpty {
            // GNU env takes NAME=VALUE words up to the first word without `=`.
            arguments += ["env"] + parameters.env.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        }
        return arguments + words
    }

    func executeCommand(
        _ parameters: JobParameters.ExecuteCommand, _ context: Context, into result: inout JobResult
    ) async throws(JobError) {
        let outcome = await limactl.run(
            Self.shellArguments(parameters), timeout: context.remaining, output: context.output)
        result.stdout = outcome.stdoutText
        result.stderr = outcome.stderrText
        result.outputTruncated = outcome.stdoutTruncated || outcome.stderrTruncated
        if outcome.timedOut { throw .timedOut("the command did not finish before the job's deadline") }
        if outcome.cancelled { throw .cancelled("the command was cancelled") }
        switch outcome.termination {
        case .exited(let code):
            // Exit 1 with a limactl fatal line is limactl's own failure (VM missing or stopped),
            // not the guest's exit code.
            if code == 1, let message = Limactl.fatalMessage(outcome.stderrText) {
                throw .failed(Limactl.errorCode(forMessage: message), message)
            }
            result.exitCode = Int(code)
            result.data = try Self.encode(ResultData.Exit(exitCode: Int(code)))
            if code != 0 {
                throw .failed(JobError.commandFailed, "the command exited with code \(code)")
            }
        case .signaled(let signal):
            throw .failed(.limactlFailed, "limactl shell was killed by signal \(signal)")
        case .notStarted(let reason):
            throw .failed(.limactlUnavailable, "limactl could not be started: \(reason)")
        }
    }
}
