import Foundation
import Models
import Testing

@testable import PollWorker

/// The package's `deploy/templates`, found from this file's location.
private func templatesDirectory(filePath: String = #filePath) -> URL {
    URL(fileURLWithPath: filePath)
        .deletingLastPathComponent()  // PollWorkerTests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()  // the package
        .appendingPathComponent("deploy")
        .appendingPathComponent("templates")
}

private func parse(_ text: String) -> TemplateResources {
    TemplateResources.parse(Data(text.utf8))
}

@Suite("TemplateResources")
struct TemplateResourcesTests {
    @Test(
        "The shipped templates read as their cpus, memory and disk",
        arguments: [
            ("webapp", TemplateResources(cpus: 2, memory: 2, disk: 20)),
            ("api", TemplateResources(cpus: 2, memory: 4, disk: 30)),
            ("database", TemplateResources(cpus: 4, memory: 8, disk: 100)),
            ("dev", TemplateResources(cpus: 4, memory: 8, disk: 60)),
        ])
    func shippedTemplates(name: String, expected: TemplateResources) throws {
        let data = try Data(contentsOf: templatesDirectory().appendingPathComponent("\(name).yaml"))
        #expect(TemplateResources.parse(data) == expected)
    }

    @Test("The shipped templates fit the default per-VM limits and the default allowed list")
    func shippedTemplatesPassPolicy() throws {
        var config = AgentConfig(agentId: "host-1", agentName: "host-1")
        config.templatesDir = templatesDirectory().path
        let policy = JobPolicy(config: config)
        for name in config.security.allowedVmTemplates {
            let parameters = JobParameters.CreateVM(vmName: "web", template: name)
            let resources = try policy.resources(parameters)
            #expect(throws: Never.self) { try policy.checkPerVM(resources) }
        }
    }

    @Test(
        "Sizes with a unit, or a bare number of bytes, are read as GiB",
        arguments: [
            ("512MiB", 0.5), ("1TiB", 1024), ("4G", 4), ("4GiB", 4), ("1.5GiB", 1.5), ("2048M", 2), ("1T", 1024),
            ("1048576KiB", 1), ("1073741824", 1),
        ])
    func units(text: String, gibibytes: Double) {
        #expect(TemplateResources.gibibytes(text) == gibibytes)
        #expect(
            parse("memory: \"\(text)\"\ndisk: '\(text)'\n") == TemplateResources(memory: gibibytes, disk: gibibytes))
        #expect(parse("disk: \(text)\n").disk == gibibytes)
    }

    @Test("Indented keys, comment lines and trailing comments are ignored")
    func nestedAndComments() {
        let text = """
            # cpus: 16
            cpus: 2  # two cores
            vmType: qemu
            nested:
              cpus: 8
              memory: "32GiB"
            \tdisk: "999GiB"
            memory: "4GiB"
            #disk: "1TiB"
            """
        #expect(parse(text) == TemplateResources(cpus: 2, memory: 4, disk: nil))
    }

    @Test(
        "A value that cannot be read counts as unset",
        arguments: [
            "cpus: many", "cpus: 2.5", "cpus:", "memory: lots", "memory: \"GiB\"", "disk: 30 GB", "disk: -",
            "cpus 4",
        ])
    func unreadable(line: String) {
        #expect(parse(line + "\n") == TemplateResources())
    }

    @Test("A template that names nothing, or no template text at all, has every value unset")
    func nothing() {
        #expect(parse("vmType: qemu\nmounts: []\n") == TemplateResources())
        #expect(TemplateResources.parse(Data()) == TemplateResources())
    }

    @Test("A later top-level value replaces an earlier one")
    func lastWins() {
        #expect(parse("cpus: 2\ncpus: 6\n").cpus == 6)
    }
}
