import Core
import Foundation
import Testing
import TestSupport

@Suite("Learning-rate schedules")
struct LearningRateScheduleTests {
    @Test("StepLR and ExponentialLR match torch.optim.lr_scheduler", arguments: ["schedule_step", "schedule_exponential"])
    func matchesTorch(caseName: String) throws {
        let fixture = try TorchFixture(group: "optimizers", name: caseName)
        let base = Float(fixture.number("base")), gamma = Float(fixture.number("gamma"))
        let schedule: LearningRateSchedule = fixture.string("kind") == "step"
            ? .stepDecay(initialRate: base, stepSize: fixture.integer("step_size"), factor: gamma)
            : .exponential(initialRate: base, factor: gamma)
        try schedule.validate()
        let expected = fixture["rates"]
        let actual = Tensor(shape: expected.shape, values: (0..<expected.count).map { schedule.learningRate(atStep: $0) })
        #expect(relativeToLargest(actual, expected) <= 1e-6, "\(actual.scalars) vs \(expected.scalars)")
        #expect(actual[flat: expected.count - 1] < actual[flat: 0])
    }

    @Test("warm-up then cosine decay follows the documented formula")
    func warmupCosine() throws {
        let schedule = LearningRateSchedule.warmupCosine(peakRate: 1, warmupSteps: 4, totalSteps: 12, minimumRate: 0.1)
        try schedule.validate()
        let expected: [(Int, Float)] = [(0, 0.25), (1, 0.5), (3, 1), (4, 1), (8, 0.55), (12, 0.1), (1000, 0.1)]
        for (step, rate) in expected {
            #expect(abs(schedule.learningRate(atStep: step) - rate) < 1e-6, "step \(step)")
        }
        // 10 → progress 6/8: 0.1 + 0.9·(1 + cos(3π/4))/2
        #expect(abs(schedule.learningRate(atStep: 10) - Float(0.1 + 0.9 * (1 + cos(3 * Double.pi / 4)) / 2)) < 1e-6)
        let decay = (4...12).map { schedule.learningRate(atStep: $0) }
        #expect(zip(decay, decay.dropFirst()).allSatisfy { $0 >= $1 })
    }

    @Test("warm-up then polynomial decay follows the documented formula")
    func warmupPolynomial() {
        let linear = LearningRateSchedule.warmupPolynomial(peakRate: 1, warmupSteps: 4, totalSteps: 12, power: 1, minimumRate: 0.1)
        let quadratic = LearningRateSchedule.warmupPolynomial(peakRate: 1, warmupSteps: 0, totalSteps: 8, power: 2, minimumRate: 0)
        #expect(abs(linear.learningRate(atStep: 1) - 0.5) < 1e-6)
        #expect(abs(linear.learningRate(atStep: 8) - 0.55) < 1e-6)
        #expect(abs(linear.learningRate(atStep: 20) - 0.1) < 1e-6)
        #expect(quadratic.learningRate(atStep: 0) == 1)
        #expect(abs(quadratic.learningRate(atStep: 4) - 0.25) < 1e-6)
        #expect(quadratic.learningRate(atStep: 8) == 0)
    }

    @Test("constant is constant; invalid settings are rejected with a reason; schedules are Codable")
    func validationAndCoding() throws {
        #expect(LearningRateSchedule.constant(rate: 0.01).learningRate(atStep: 12345) == 0.01)
        let invalid: [LearningRateSchedule] = [
            .constant(rate: -1), .stepDecay(initialRate: 0.1, stepSize: 0, factor: 0.5), .exponential(initialRate: 0.1, factor: 0),
            .warmupCosine(peakRate: 1, warmupSteps: 10, totalSteps: 10, minimumRate: 0),
            .warmupCosine(peakRate: 1, warmupSteps: 0, totalSteps: 10, minimumRate: 2),
            .warmupPolynomial(peakRate: 1, warmupSteps: 1, totalSteps: 10, power: 0, minimumRate: 0),
        ]
        for schedule in invalid {
            #expect(throws: LearningRateSchedule.InvalidSchedule.self, "\(schedule)") { try schedule.validate() }
        }
        let schedule = LearningRateSchedule.warmupPolynomial(peakRate: 3e-3, warmupSteps: 50, totalSteps: 2000, power: 0.9, minimumRate: 1e-5)
        let decoded = try JSONDecoder().decode(LearningRateSchedule.self, from: JSONEncoder().encode(schedule))
        #expect(decoded == schedule)
    }
}
