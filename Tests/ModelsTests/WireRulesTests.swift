import Foundation
import Testing

@testable import Models

@Suite("Identifier rules")
struct WireRulesTests {
    @Test(
        "Valid job ids pass",
        arguments: ["job-7f3c", "a", "cp:job.7f3c_A-1", "0", String(repeating: "z", count: 128)])
    func validJobIDs(_ id: String) {
        #expect(WireRules.jobIDProblem(id) == nil)
    }

    @Test(
        "Invalid job ids are explained",
        arguments: [
            ("", "empty"), ("job 1", "A-Z a-z 0-9"), ("job/1", "A-Z a-z 0-9"), ("jöb-1", "A-Z a-z 0-9"),
            ("job\n1", "A-Z a-z 0-9"), (String(repeating: "z", count: 129), "at most 128"),
        ])
    func invalidJobIDs(_ id: String, _ reason: String) throws {
        let problem = try #require(WireRules.jobIDProblem(id))
        #expect(problem.contains(reason))
    }

    @Test(
        "Names Lima accepts pass",
        arguments: ["my-app", "a", "ubuntu-24.04", "a_b.c-d", "A1", "x.yaml2", String(repeating: "v", count: 76)])
    func validInstanceNames(_ name: String) {
        #expect(WireRules.instanceNameProblem(name) == nil)
    }

    @Test(
        "Names Lima refuses are explained",
        arguments: [
            ("a b", "must match"), ("-x", "must match"), ("x-", "must match"), ("a..b", "must match"),
            ("a.-b", "must match"), ("_a", "must match"), ("my/app", "must match"), ("x.yaml", ".yml or .yaml"),
            ("X.YML", ".yml or .yaml"), ("db.Yaml", ".yml or .yaml"), (String(repeating: "v", count: 77), "at most 76"),
            ("", "empty"),
        ])
    func invalidInstanceNames(_ name: String, _ reason: String) throws {
        let problem = try #require(WireRules.instanceNameProblem(name))
        #expect(problem.contains(reason))
    }

    @Test("The limits are those of the API and of Lima")
    func limits() {
        #expect(WireRules.maxJobIDLength == 128)
        #expect(WireRules.maxInstanceNameLength == 76)
        #expect(WireRules.instanceNamePattern == "^[A-Za-z0-9]+(?:[._-](?:[A-Za-z0-9]+))*$")
    }
}
