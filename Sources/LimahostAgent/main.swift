import ArgumentParser
import Foundation
import PollWorker

// Wiring only: parse, build the real dependencies, hand over to the Launcher.
let environment = ProcessInfo.processInfo.environment
GlobalExecutor.install(environment: environment, cores: ProcessInfo.processInfo.activeProcessorCount)
let arguments = Array(CommandLine.arguments.dropFirst())
let writeOut: @Sendable (String) -> Void = { FileHandle.standardOutput.write(Data($0.utf8)) }
let writeErr: @Sendable (String) -> Void = { FileHandle.standardError.write(Data($0.utf8)) }

let parsed: any ParsableCommand
do {
    parsed = try AgentCommand.parseAsRoot(arguments)
} catch {
    let message = CommandLineRedaction.redact(AgentCommand.fullMessage(for: error), arguments: arguments)
    if AgentCommand.exitCode(for: error) == .success {
        writeOut(message + "\n")
        exit(ExitStatus.ok.rawValue)
    }
    writeErr(message + "\n")
    exit(ExitStatus.configuration.rawValue)
}

let loader = ConfigLoader(hostname: ProcessInfo.processInfo.hostName, readFile: { try FileBytes.read($0) })

/// `approvals list | approve ID | deny ID`: the decision goes through the state store.
func runApprovals(_ action: ApprovalDesk.Action, config: String?) -> Never {
    let desk = ApprovalDesk(
        loader: loader, operatorName: environment["SUDO_USER"] ?? UserAccount.current().name, writeOut: writeOut,
        writeErr: writeErr)
    let sources = ConfigSources(configFlag: config, environment: environment, overrides: .init())
    exit(desk.run(action, sources: sources).rawValue)
}

switch parsed {
case let list as ApprovalsList:
    runApprovals(.list, config: list.config)
case let approve as ApprovalsApprove:
    runApprovals(.decide(jobId: approve.id, .approved), config: approve.config)
case let deny as ApprovalsDeny:
    runApprovals(.decide(jobId: deny.id, .denied), config: deny.config)
case let command as AgentCommand:
    let launcher = Launcher(
        loader: loader, hostChecks: .live(environment: environment), writeOut: writeOut, writeErr: writeErr)
    let request = LaunchRequest(
        sources: ConfigSources(
            configFlag: command.config, environment: environment,
            overrides: .init(controlPlaneUrl: command.controlPlane, apiKey: command.apiKey, logLevel: command.logLevel)),
        drain: command.drain, checkConfig: command.checkConfig)
    let status = await GlobalExecutor.run { await launcher.run(request) }
    exit(status.rawValue)
default:
    // `approvals` alone: its help.
    writeOut(ApprovalsCommand.helpMessage() + "\n")
    exit(ExitStatus.configuration.rawValue)
}
