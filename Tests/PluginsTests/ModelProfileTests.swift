import Plugins
import Testing

@Suite("Model profiles")
struct ModelProfileTests {
    @Test func namesAreStableConfigurationValues() {
        #expect(ModelProfile(rawValue: "cpu") == .cpu)
        #expect(ModelProfile(rawValue: "paper") == .paper)
        #expect(ModelProfile(rawValue: "gpu") == nil)
        #expect(ModelRole.allCases.map(\.rawValue) == ["teacher", "student"])
    }
}
