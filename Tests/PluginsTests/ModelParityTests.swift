import Core
import Foundation
import Plugins
import Testing
import TestSupport

/// Each network against an independent PyTorch implementation written from MODELS.md
/// (Tests/Fixtures/torch/reference_networks.py): the same deterministic weights and input on
/// both sides (DeterministicTensor), outputs compared on a strided sample and in total.
@Suite("Model parity with PyTorch")
struct ModelParityTests {
    static func check(_ fixtureName: String, _ model: SegmentationModel, extraNames: [String] = []) throws {
        let fixture = try TorchFixture(group: "models", name: fixtureName)
        #expect(model.parameterCount + extraNamesCount(extraNames, fixture) == fixture.integer("parameters"),
                "parameter count \(model.parameterCount) vs PyTorch \(fixture.integer("parameters"))")
        DeterministicTensor.fill(model.parameters, allNames: model.parameters.map(\.name) + extraNames)
        let input = DeterministicTensor.make(shape: fixture.integers("input_shape"), stream: 999_983, kind: .input)
        let output = model.forward(Variable(input), ForwardContext.inference()).value
        #expect(output.shape == fixture.integers("output_shape"))
        let step = fixture.integer("sample_step")
        let sample = output.withUnsafeBufferPointer { values in stride(from: 0, to: values.count, by: step).map { values[$0] } }
        let expected = fixture["output_sample"]
        #expect(sample.count == expected.count)
        let error = relativeError(Tensor(shape: [sample.count], values: sample), expected)
        #expect(error < 1e-4, "\(fixtureName): relative error \(error)")
        let total = output.sum()
        let expectedTotal = Double(fixture["output_sum"][flat: 0])
        #expect(abs(total - expectedTotal) <= 1e-4 * max(1, abs(expectedTotal), Double(output.count) * 1e-2),
                "\(fixtureName): sum \(total) vs \(expectedTotal)")
    }

    /// Parameters PyTorch counts that brainseg does not build (the student's unused groups).
    static func extraNamesCount(_ names: [String], _ fixture: TorchFixture) -> Int {
        names.isEmpty ? 0 : fixture.integer("parameters") - StudentModel(profile: .cpu).parameterCount
    }

    @Test("student (released names, 4.51 M parameters)")
    func student() throws {
        let model = StudentModel(profile: .cpu)
        let names = Set(model.parameters.map(\.name)).union(StudentNetwork.unusedReleasedTensors)
        // The released names ship in ../shared/docs beside the checkout (when present).
        let listing = (try? String(contentsOfFile: "\(Fixtures.directory)/../../../shared/docs/student-tensor-names.txt", encoding: .utf8)) ?? ""
        let released = listing.split(separator: "\n").filter { !$0.hasPrefix("#") }.compactMap { $0.split(separator: " ").first.map(String.init) }
        if !released.isEmpty { #expect(names == Set(released), "names differ from student-tensor-names.txt") }
        #expect(abs(Double(model.parameterCount) / 1e6 - 4.51) < 0.01)
        try Self.check("student", model, extraNames: StudentNetwork.unusedReleasedTensors.sorted())
    }

    @Test("unet (base width 4)")
    func unet() throws {
        try Self.check("unet_base4", UNetModel(profile: .cpu, baseWidth: 4))
        #expect(abs(Double(UNetModel(profile: .cpu).parameterCount) / 1e6 - 5.3) < 0.15)
        #expect(abs(Double(UNetModel(profile: .paper).parameterCount) / 1e6 - 18.8) < 0.3)
    }

    @Test("resunet-vae segmentation path (F = 8)")
    func resunet() throws {
        try Self.check("resunet_f8", ResUNetVAEModel(profile: .cpu, initialWidth: 8))
    }

    @Test("cascade (three stages, 64³)")
    func cascade() throws {
        try Self.check("cascade", CascadeModel(profile: .cpu))
    }
}
