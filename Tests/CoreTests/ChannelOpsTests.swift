import Core
import Testing
import TestSupport

@Suite("Channel ops: concatenate, slice/split, max over channel groups")
struct ChannelOpsTests {
    @Test("the fixture group holds the expected channel cases")
    func fixturesPresent() {
        #expect(OpsFixtureCheck.cases("channels_").count == 4, "\(OpsFixtureCheck.cases("channels_"))")
    }

    @Test("concatenateChannels matches torch.cat(dim=1)")
    func concatenateMatchesTorch() throws {
        try OpsFixtureCheck.expectMatch("channels_concatenate", inputs: ["x0", "x1", "x2"]) { _, context, v in
            [context.concatenateChannels(v)]
        }
    }

    @Test("splitChannels matches torch.split(dim=1)")
    func splitMatchesTorch() throws {
        try OpsFixtureCheck.expectMatch("channels_split", inputs: ["x"]) { fixture, context, v in
            context.splitChannels(v[0], sizes: fixture.integers("sizes"))
        }
    }

    @Test("maxOverChannelGroups matches torch max over the group axis",
          arguments: ["channels_max_groups4", "channels_max_groups2"])
    func maxMatchesTorch(name: String) throws {
        try OpsFixtureCheck.expectMatch(name, inputs: ["x"]) { fixture, context, v in
            [context.maxOverChannelGroups(v[0], groups: fixture.integer("groups"))]
        }
    }

    @Test("finite differences agree with every backward")
    func gradientCheck() {
        var random = SeededRandom(seed: 31)
        let inputs = [Tensor.randomNormal(shape: [2, 2, 3, 2, 3], random: &random),
                      Tensor.randomNormal(shape: [2, 1, 3, 2, 3], random: &random),
                      Tensor.randomNormal(shape: [2, 3, 3, 2, 3], random: &random)]
        expectGradientsMatch(GradientCheck.compare(inputs: inputs) { context, v in context.concatenateChannels(v) }, "concatenate")
        expectGradientsMatch(GradientCheck.compare(inputs: [inputs[2]]) { context, v in
            let parts = context.splitChannels(v[0], sizes: [2, 1])
            return context.concatenateChannels([context.scale(parts[1], by: 3), parts[0]])
        }, "split")
        // Well-separated values (spacing 0.1 ≫ ε) so the arg-max does not change under ±ε.
        var values = (0..<(2 * 8 * 3 * 2 * 3)).map { Float($0) * 0.1 }
        values.shuffle(using: &random)
        let separated = [Tensor(shape: [2, 8, 3, 2, 3], values: values)]
        expectGradientsMatch(GradientCheck.compare(inputs: separated) { context, v in
            context.maxOverChannelGroups(v[0], groups: 4)
        }, "maxOverChannelGroups")
    }

    @Test("on ties the gradient goes to the first group only")
    func tiesGoToFirstGroup() {
        // Groups 0..2 of F = 2 channels, 1 voxel. Channel 0: groups 1 and 2 tie at 5. Channel 1:
        // all three tie at 1.
        let x = Tensor(shape: [1, 6, 1, 1, 1], values: [1, 1, 5, 1, 5, 1])
        let parameter = Parameter(name: "x", value: x)
        let tape = Tape()
        let context = ForwardContext(tape: tape)
        let y = context.maxOverChannelGroups(context.variable(parameter), groups: 3)
        #expect(y.value.scalars == [5, 1])
        tape.backward(y, gradient: Tensor(shape: [1, 2, 1, 1, 1], values: [2, 3]))
        #expect(parameter.gradient?.scalars == [0, 3, 2, 0, 0, 0])
    }

    @Test("split undoes concatenate, including a multi-block, multi-worker maximum")
    func roundTripAndLargeMaximum() {
        var random = SeededRandom(seed: 32)
        let a = Tensor.randomNormal(shape: [2, 3, 4, 5, 6], random: &random)
        let b = Tensor.randomNormal(shape: [2, 2, 4, 5, 6], random: &random)
        let context = ForwardContext.inference()
        let parts = context.splitChannels(context.concatenateChannels([Variable(a), Variable(b)]), sizes: [3, 2])
        #expect(parts[0].value.scalars == a.scalars && parts[1].value.scalars == b.scalars)
        #expect(parts[0].shape == a.shape && parts[1].shape == b.shape)

        let big = Tensor.randomNormal(shape: [2, 8, 16, 16, 12], random: &random)  // 3072 voxels: 3 blocks
        let merged = ChannelKernels.maxOverChannelGroups(big, groups: 4).scalars
        let values = big.scalars, spatial = 16 * 16 * 12
        var mismatches = 0
        for sample in 0..<2 {
            for feature in 0..<2 {
                for voxel in 0..<spatial {
                    let expected = (0..<4).map { values[(sample * 8 + $0 * 2 + feature) * spatial + voxel] }.max()!
                    if merged[(sample * 2 + feature) * spatial + voxel] != expected { mismatches += 1 }
                }
            }
        }
        #expect(mismatches == 0)
    }
}
