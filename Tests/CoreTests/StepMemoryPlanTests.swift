@testable import Core
import Testing
import TestSupport

/// The planned arena of repeating steps: `StepMemoryPlan` never puts two live tensors in one
/// buffer and holds about the live peak; `BufferPool.repeatingStep` gives every tensor memory no
/// other live tensor uses, reuses its buffers from one repetition to the next, and falls back to
/// the free list where a repetition differs from the recorded one.
@Suite("Step memory plans and the planned arena", .serialized)  // serialized: `drain` below forgets idle plans
struct StepMemoryPlanTests {
    typealias Request = StepMemoryPlan.Request

    /// The largest sum of counts alive at once.
    static func livePeak(_ requests: [Request]) -> Int {
        var events: [(time: Int, delta: Int)] = []
        for request in requests where request.end != nil {
            events.append((request.start, request.count))
            events.append((request.end!, -request.count))
        }
        var live = 0, peak = 0
        for event in events.sorted(by: { $0.time < $1.time }) {
            live += event.delta
            peak = max(peak, live)
        }
        return peak
    }

    @Test("a chain of tensors each freed before the next-but-one shares two buffers")
    func chain() {
        // a [0, 2), b [1, 4), c [3, 6), d [5, 7): each overlaps only its neighbours.
        let requests = [Request(count: 100, start: 0, end: 2), Request(count: 100, start: 1, end: 4),
                        Request(count: 80, start: 3, end: 6), Request(count: 60, start: 5, end: 7)]
        let plan = StepMemoryPlan(requests: requests)
        #expect(plan.slotCapacities.count == 2)
        #expect(plan.plannedFloats == Self.livePeak(requests))
        #expect(plan.slotOfRequest[0] == plan.slotOfRequest[2] && plan.slotOfRequest[1] == plan.slotOfRequest[3])
    }

    @Test("a tensor that outlives the step gets no buffer of the plan")
    func outliving() {
        let plan = StepMemoryPlan(requests: [Request(count: 10, start: 0, end: nil), Request(count: 10, start: 1, end: 2)])
        #expect(plan.slotOfRequest[0] == nil && plan.slotOfRequest[1] != nil)
        #expect(plan.plannedFloats == 10)
    }

    @Test("random steps: no two overlapping tensors share a buffer, each buffer fits its tensors, the total is near the live peak",
          arguments: 0..<20)
    func randomSteps(seed: Int) {
        var random = SeededRandom(seed: UInt64(seed) + 100)
        var requests: [Request] = []
        var live: [Int] = []
        for time in 0..<400 {
            if !live.isEmpty, random.next() % 2 == 0 {
                let index = Int(random.next() % UInt64(live.count))
                requests[live.remove(at: index)].end = time
            } else {
                live.append(requests.count)
                requests.append(Request(count: 1 << Int(random.next() % 12) + Int(random.next() % 100), start: time, end: nil))
            }
        }
        if seed % 2 == 0 { for index in live { requests[index].end = 400 } }  // else some outlive the step
        let plan = StepMemoryPlan(requests: requests)
        for (first, a) in requests.enumerated() {
            guard let slot = plan.slotOfRequest[first] else {
                #expect(a.end == nil)
                continue
            }
            #expect(plan.slotCapacities[slot] >= a.count)
            for (second, b) in requests.enumerated() where second > first && plan.slotOfRequest[second] == slot {
                #expect(a.end! <= b.start || b.end! <= a.start, "requests \(first) and \(second) overlap in slot \(slot)")
            }
        }
        let peak = Self.livePeak(requests)
        #expect(plan.plannedFloats >= peak)
        #expect(Double(plan.plannedFloats) <= 1.6 * Double(peak), "planned \(plan.plannedFloats) for a live peak of \(peak)")
    }

    /// One repetition of a small "step": tensors of several sizes, some freed early, each filled
    /// with its own value and checked after the others were written. Returns the addresses of
    /// the tensors and a tensor that outlives the step.
    static func step(_ tag: Float, sizes: [Int]) -> (addresses: [UInt], kept: Tensor) {
        var addresses: [UInt] = []
        var held: [Tensor] = []
        var kept = Tensor(shape: [1])
        for (index, size) in sizes.enumerated() {
            var tensor = Tensor(uninitializedShape: [size])
            tensor.withUnsafeMutableBufferPointer { $0.update(repeating: tag + Float(index)) }
            addresses.append(tensor.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) })
            held.append(tensor)
            if index % 3 == 2 { held.removeFirst() }  // free the oldest now and then
            for (offset, other) in held.enumerated() {
                let expected = tag + Float(index - held.count + 1 + offset)
                #expect(other.scalars.allSatisfy { $0 == expected }, "a live tensor was overwritten")
            }
            if index == 4 { kept = tensor }
        }
        return (addresses, kept)
    }

    @Test("repeating steps: later repetitions reuse the planned buffers, live tensors never share memory, a tensor kept past the step stays intact")
    func repeatingStepsReuseBuffers() {
        let sizes = [70_000, 5_000, 70_000, 33_000, 20_000, 70_000, 1_000, 40_000]
        let key = "StepMemoryPlanTests.repeatingStepsReuseBuffers"
        let first = BufferPool.shared.repeatingStep(key) { Self.step(10, sizes: sizes) }
        let second = BufferPool.shared.repeatingStep(key) { Self.step(20, sizes: sizes) }
        let third = BufferPool.shared.repeatingStep(key) { Self.step(30, sizes: sizes) }
        // Tensor 4 is kept by the caller, so it is planned nowhere: the next repetitions must not write over it.
        #expect(first.kept.scalars.allSatisfy { $0 == 14 })
        #expect(second.kept.scalars.allSatisfy { $0 == 24 })
        let planned = sizes.indices.filter { $0 != 4 }
        #expect(planned.map { second.addresses[$0] } == planned.map { third.addresses[$0] }, "planned tensors should keep their buffers")
        #expect(Set(planned.map { third.addresses[$0] }).count < planned.count, "tensors with disjoint lifetimes should share buffers")
    }

    @Test("a tensor held longer than in the recording keeps its buffer: the request planned to share it gets another")
    func heldLongerThanRecorded() {
        let key = "StepMemoryPlanTests.heldLongerThanRecorded"
        // Returns the first tensor if held and whether the second one read back what it wrote;
        // the second tensor itself dies inside the step, so the plan covers it.
        func step(holdingFirst: Bool) -> (first: Tensor?, secondIntact: Bool) {
            var first = Tensor(uninitializedShape: [50_000])
            first.withUnsafeMutableBufferPointer { $0.update(repeating: 1) }
            let held = holdingFirst ? first : nil
            first = Tensor(shape: [1])  // frees the first tensor's buffer unless it is held
            var second = Tensor(uninitializedShape: [50_000])  // planned into the first one's buffer
            second.withUnsafeMutableBufferPointer { $0.update(repeating: 2) }
            return (held, second.scalars.allSatisfy { $0 == 2 })
        }
        _ = BufferPool.shared.repeatingStep(key) { step(holdingFirst: false) }
        #expect(BufferPool.shared.repeatingStep(key) { step(holdingFirst: false) }.secondIntact)
        let held = BufferPool.shared.repeatingStep(key) { step(holdingFirst: true) }
        #expect(held.first?.scalars.allSatisfy { $0 == 1 } == true, "the held tensor was overwritten by the one planned after it")
        #expect(held.secondIntact)
    }

    @Test("after drain, a step's repetitions stay correct and are planned again")
    func stepsAfterDrain() {
        let key = "StepMemoryPlanTests.stepsAfterDrain"
        let sizes = [60_000, 30_000, 60_000, 30_000, 60_000]
        _ = BufferPool.shared.repeatingStep(key) { Self.step(1, sizes: sizes) }
        let planned = BufferPool.shared.repeatingStep(key) { Self.step(2, sizes: sizes) }
        BufferPool.shared.drain()
        let recordedAgain = BufferPool.shared.repeatingStep(key) { Self.step(3, sizes: sizes) }
        let plannedAgain = BufferPool.shared.repeatingStep(key) { Self.step(4, sizes: sizes) }
        let again = BufferPool.shared.repeatingStep(key) { Self.step(5, sizes: sizes) }
        #expect(planned.kept.scalars.allSatisfy { $0 == 6 } && recordedAgain.kept.scalars.allSatisfy { $0 == 7 })
        let plannedTensors = [0, 1, 2, 3]  // tensor 4 is kept by the caller, so it has no plan
        #expect(plannedTensors.map { plannedAgain.addresses[$0] } == plannedTensors.map { again.addresses[$0] },
                "after the new recording the step is planned again")
    }

    @Test("a repetition that differs from the recorded one falls back to the free list and stays correct")
    func differingRepetition() {
        let key = "StepMemoryPlanTests.differingRepetition"
        _ = BufferPool.shared.repeatingStep(key) { Self.step(1, sizes: [50_000, 20_000, 50_000, 20_000, 50_000, 20_000]) }
        let other = BufferPool.shared.repeatingStep(key) { Self.step(2, sizes: [20_000, 50_000, 80_000, 20_000, 50_000, 90_000, 10]) }
        #expect(other.kept.scalars.allSatisfy { $0 == 6 })
        let again = BufferPool.shared.repeatingStep(key) { Self.step(3, sizes: [50_000, 20_000, 50_000, 20_000, 50_000, 20_000]) }
        #expect(again.kept.scalars.allSatisfy { $0 == 7 })
        #expect(other.kept.scalars.allSatisfy { $0 == 6 })
    }

    /// Losses and final weights of `steps` Adam steps of a small conv net on 24³ inputs (large
    /// enough for the kernels' scratch and several workers), each step inside `repeatingStep`
    /// under `key` or, with nil, outside any plan.
    static func train(steps: Int, key: String?) -> (losses: [Float], weights: [[Float]]) {
        var random = SeededRandom(seed: 3)
        let first = Convolution3DLayer(name: "c1", inputChannels: 2, outputChannels: 16, kernel: 3, hasBias: false, random: &random)
        let norm = NormalizationLayer(name: "n1", channels: 16, groups: 4, activation: .leakyReLU(slope: 0.01))
        let second = Convolution3DLayer(name: "c2", inputChannels: 16, outputChannels: 16, kernel: 3, hasBias: false, random: &random)
        let secondNorm = NormalizationLayer(name: "n2", channels: 16, groups: 16, activation: .relu)
        let head = Convolution3DLayer(name: "c3", inputChannels: 16, outputChannels: 3, kernel: 1, hasBias: true, random: &random)
        let parameters = first.parameters + norm.parameters + second.parameters + secondNorm.parameters + head.parameters
        let optimizer = Adam(parameters: parameters, learningRate: 0.01)
        var losses: [Float] = []
        for step in 0..<steps {
            let image = Tensor.randomNormal(shape: [1, 2, 24, 24, 24], random: &random)
            let target = Tensor.randomUniform(shape: [1, 3, 24, 24, 24], low: 0, high: 1, random: &random).map { $0 > 0.7 ? 1 : 0 }
            func once() -> Float {
                let tape = Tape()
                let context = ForwardContext(tape: tape, isTraining: true, random: SeededRandom(seed: UInt64(step)))
                let features = secondNorm(second(norm(first(Variable(image), context), context), context), context)
                let loss = context.regionLoss(logits: head(features, context), target: Variable(target))
                optimizer.zeroGradients()
                tape.backward(loss)
                optimizer.step()
                return loss.value[flat: 0]
            }
            losses.append(key.map { BufferPool.shared.repeatingStep($0, once) } ?? once())
        }
        return (losses, parameters.map(\.value.scalars))
    }

    @Test("training steps in the planned arena compute exactly what they compute without it")
    func plannedTrainingIsExact() {
        let planned = Self.train(steps: 4, key: "StepMemoryPlanTests.plannedTrainingIsExact")
        let plain = Self.train(steps: 4, key: nil)
        #expect(planned.losses == plain.losses)
        #expect(planned.weights == plain.weights)
    }
}
