import Core
import Testing
import TestSupport

/// The engine can learn: a tiny conv net trained with Adam on a synthetic 3D segmentation task
/// (find the bright blobs in noise) drives Dice + BCE close to zero.
@Suite("Engine learns")
struct EngineLearnsTests {
    /// A noisy 1×1×10×10×10 image with bright boxes and the matching 0/1 target.
    static func sample(_ random: inout SeededRandom) -> (Tensor, Tensor) {
        var image = Tensor.randomNormal(shape: [1, 1, 10, 10, 10], scale: 0.3, random: &random)
        var target = Tensor(shape: [1, 1, 10, 10, 10])
        for _ in 0..<2 {
            let origin = (0..<3).map { _ in Int(random.next() % 7) }
            for z in origin[0]..<(origin[0] + 3) { for y in origin[1]..<(origin[1] + 3) { for x in origin[2]..<(origin[2] + 3) {
                let index = (z * 10 + y) * 10 + x
                image[flat: index] += 1.5
                target[flat: index] = 1
            } } }
        }
        return (image, target)
    }

    @Test("a two-layer conv net reaches near-zero loss in 300 Adam steps")
    func learnsBlobs() {
        var random = SeededRandom(seed: 11)
        let first = Convolution3DLayer(name: "c1", inputChannels: 1, outputChannels: 8, kernel: 3, hasBias: false, random: &random)
        let norm = NormalizationLayer(name: "n1", channels: 8, groups: 8, activation: .leakyReLU(slope: 0.01))
        let second = Convolution3DLayer(name: "c2", inputChannels: 8, outputChannels: 1, kernel: 3, hasBias: true, random: &random)
        let parameters = first.parameters + norm.parameters + second.parameters
        let optimizer = Adam(parameters: parameters, learningRate: 0.02)
        var losses: [Float] = []
        for step in 0..<300 {
            let (image, target) = Self.sample(&random)
            let tape = Tape()
            let context = ForwardContext(tape: tape, isTraining: true, random: SeededRandom(seed: UInt64(step)))
            let logits = second(norm(first(Variable(image), context), context), context)
            let loss = context.regionLoss(logits: logits, target: Variable(target))
            optimizer.zeroGradients()
            tape.backward(loss)
            optimizer.step()
            losses.append(loss.value[flat: 0])
        }
        let early = losses.prefix(10).reduce(0, +) / 10
        let late = losses.suffix(20).reduce(0, +) / 20
        #expect(early > 0.5, "starts untrained (loss \(early))")
        #expect(late < 0.08, "ends near zero (loss \(late))")
    }
}
