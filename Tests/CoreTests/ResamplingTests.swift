import Core
import Testing
import TestSupport

@Suite("Resampling: trilinear ×2 upsampling, average pooling")
struct ResamplingTests {
    @Test("the fixture group holds the expected resampling cases")
    func fixturesPresent() {
        #expect(OpsFixtureCheck.cases("resample_upsample_").count == 3)
        #expect(OpsFixtureCheck.cases("resample_pool").count == 3)
    }

    @Test("upsampleTrilinear2x matches F.interpolate(trilinear, align_corners=False)",
          arguments: OpsFixtureCheck.cases("resample_upsample_"))
    func upsampleMatchesTorch(name: String) throws {
        try OpsFixtureCheck.expectMatch(name, inputs: ["x"]) { _, context, v in [context.upsampleTrilinear2x(v[0])] }
    }

    @Test("averagePool matches F.avg_pool3d", arguments: OpsFixtureCheck.cases("resample_pool"))
    func poolMatchesTorch(name: String) throws {
        try OpsFixtureCheck.expectMatch(name, inputs: ["x"]) { fixture, context, v in
            [context.averagePool(v[0], factor: fixture.integer("factor"))]
        }
    }

    @Test("finite differences agree with both backwards")
    func gradientCheck() {
        var random = SeededRandom(seed: 41)
        let small = [Tensor.randomNormal(shape: [2, 2, 2, 3, 1], random: &random)]
        expectGradientsMatch(GradientCheck.compare(inputs: small) { context, v in context.upsampleTrilinear2x(v[0]) }, "upsample")
        let poolable = [Tensor.randomNormal(shape: [2, 2, 4, 2, 4], random: &random)]
        expectGradientsMatch(GradientCheck.compare(inputs: poolable) { context, v in context.averagePool(v[0], factor: 2) }, "pool 2")
        expectGradientsMatch(GradientCheck.compare(inputs: [Tensor.randomNormal(shape: [1, 2, 4, 4, 8], random: &random)]) { context, v in
            context.averagePool(v[0], factor: 4)
        }, "pool 4")
    }

    @Test("upsampling a constant gives the constant everywhere, borders included")
    func constantStaysConstant() {
        for shape in [[1, 2, 1, 1, 1], [2, 3, 3, 4, 5], [1, 1, 7, 2, 3]] {
            let output = ResamplingKernels.upsampleTrilinear2x(Tensor(shape: shape, repeating: 2.5))
            #expect(output.shape == [shape[0], shape[1], 2 * shape[2], 2 * shape[3], 2 * shape[4]])
            #expect(output.scalars.allSatisfy { $0 == 2.5 }, "shape \(shape)")
        }
        let pooled = ResamplingKernels.averagePool(Tensor(shape: [1, 2, 4, 8, 4], repeating: -1.5), factor: 4)
        #expect(pooled.shape == [1, 2, 1, 2, 1] && pooled.scalars.allSatisfy { $0 == -1.5 })
    }

    @Test("upsampling a linear ramp along x reproduces the ramp inside and clamps at the borders")
    func rampAlongWidth() {
        let ramp = Tensor(shape: [1, 1, 1, 1, 4], values: [0, 4, 8, 12])
        let row: [Float] = [0, 1, 3, 5, 7, 9, 11, 12]
        // D = H = 1 become 2 × 2 copies of the same row.
        #expect(ResamplingKernels.upsampleTrilinear2x(ramp).scalars == Array([[Float]](repeating: row, count: 4).joined()))
    }

    /// ⟨A x, y⟩ and ⟨x, Aᵀ y⟩ for random x, y.
    static func adjointPair(_ forward: (Tensor) -> Tensor, _ backward: (Tensor) -> Tensor, inputShape: [Int], seed: UInt64) -> (Double, Double) {
        var random = SeededRandom(seed: seed)
        let x = Tensor.randomNormal(shape: inputShape, random: &random)
        let forwardValue = forward(x)
        let y = Tensor.randomNormal(shape: forwardValue.shape, random: &random)
        return (forwardValue.dot(y), x.dot(backward(y)))
    }

    @Test("backwards are the adjoints of the forwards (⟨Ax, y⟩ = ⟨x, Aᵀy⟩), also on multi-worker sizes",
          arguments: [[2, 3, 3, 5, 4], [1, 2, 1, 2, 1], [2, 8, 8, 8, 8]])
    func adjointness(shape: [Int]) {
        let up = Self.adjointPair(ResamplingKernels.upsampleTrilinear2x,
                                  { ResamplingKernels.upsampleTrilinear2xBackward($0, inputShape: shape) }, inputShape: shape, seed: 42)
        #expect(abs(up.0 - up.1) <= 1e-5 * max(1, abs(up.0)), "upsample \(shape): \(up)")
        let poolShape = shape.enumerated().map { $0.offset >= 2 ? $0.element * 4 : $0.element }
        for factor in [2, 4] {
            let pool = Self.adjointPair({ ResamplingKernels.averagePool($0, factor: factor) },
                                        { ResamplingKernels.averagePoolBackward($0, inputShape: poolShape, factor: factor) },
                                        inputShape: poolShape, seed: 43)
            #expect(abs(pool.0 - pool.1) <= 1e-5 * max(1, abs(pool.0)), "pool \(factor) \(poolShape): \(pool)")
        }
    }
}
