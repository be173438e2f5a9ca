import Foundation
@testable import Daemon
import Testing

/// How long `brainseg retrain` trains: the recipe's steps, capped by the budget; the command
/// line's `--steps` and `--budget` override them as documented.
@Suite("Retrain length")
struct RetrainLengthTests {
    @Test("the recipe's steps with the budget as a cap; --budget replaces the cap; --steps drops it; steps = 0 leaves the budget alone")
    func precedence() throws {
        let settings = try DaemonConfiguration.parse("[training]\nsteps = 800\nbudget_minutes = 30").retrain
        var options = StudentRetraining.Options()
        var length = StudentRetraining.length(options: options, settings: settings)
        #expect(length.steps == 800 && length.budgetSeconds == 1800)

        options.budgetSeconds = 60
        length = StudentRetraining.length(options: options, settings: settings)
        #expect(length.steps == 800 && length.budgetSeconds == 60)

        options.steps = 3
        length = StudentRetraining.length(options: options, settings: settings)
        #expect(length.steps == 3 && length.budgetSeconds == nil)

        let budgetOnly = try DaemonConfiguration.parse("[training]\nsteps = 0").retrain
        length = StudentRetraining.length(options: StudentRetraining.Options(), settings: budgetOnly)
        #expect(length.steps == nil && length.budgetSeconds == 7200)
    }
}
