import ArgumentParser
import Foundation
import PollWorker

// Wiring only: parse, build the real dependencies, hand over to the Launcher.
let arguments = Array(CommandLine.arguments.dropFirst())
let environment = ProcessInfo.processInfo.environment
let writeOut: @Sendable (String) -> Void = { FileHandle.standardOutput.write(Data($0.utf8)) }
let writeErr: @Sendable (String) -> Void = { FileHandle.standardError.write(Data($0.utf8)) }

let command: AgentCommand
do {
    command = try AgentCommand.parse(arguments)
} catch {
    let message = CommandLineRedaction.redact(AgentCommand.fullMessage(for: error), arguments: arguments)
    if AgentCommand.exitCode(for: error) == .success {
        writeOut(message + "\n")
        exit(ExitStatus.ok.rawValue)
    }
    writeErr(message + "\n")
    exit(ExitStatus.configuration.rawValue)
}

let launcher = Launcher(
    loader: ConfigLoader(
        hostname: ProcessInfo.processInfo.hostName,
        readFile: { try FileBytes.read($0) }),
    hostChecks: .live(environment: environment),
    writeOut: writeOut, writeErr: writeErr)
let request = LaunchRequest(
    sources: ConfigSources(
        configFlag: command.config, environment: environment,
        overrides: .init(controlPlaneUrl: command.controlPlane, apiKey: command.apiKey, logLevel: command.logLevel)),
    drain: command.drain, checkConfig: command.checkConfig)
let status = await launcher.run(request)
exit(status.rawValue)
