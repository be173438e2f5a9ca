import Core
import Foundation

/// Settings of case inference (SPEC.md §3.3–5).
public struct SegmentationOptions: Sendable {
    /// Mirror test-time augmentation: average over the flips {none, X, Y, XY}.
    public var testTimeAugmentation = false
    /// Ensemble weights by model name (uniform when absent).
    public var memberWeights: [String: Double] = [:]
    /// Convolution arithmetic by model name (float32 when absent). bfloat16 runs only where it
    /// is native and measured faster than float32 (`BFloat16Choice.current`); elsewhere float32
    /// is used, which gives the same masks (the equivalence check) in less time. int8 runs where
    /// the CPU has VNNI, else as bfloat16 would (`ComputePrecision.onThisMachine`).
    public var memberPrecision: [String: ComputePrecision] = [:]
    /// Inputs with more voxels than this run as Gaussian-weighted sliding windows.
    public var maximumWholeVolumeVoxels = 128 * 128 * 128
    /// Window size (depth, height, width) for sliding-window inference, rounded to the model's multiple.
    public var windowSize = [96, 96, 96]
    public var labels = LabelMapBuilder.Settings()
    /// A case whose estimated memory (`SegmentationMemory`) is above this is refused
    /// (`CaseSegmenter.checkMemory`). 8 GiB leaves room under the unit's `MemoryMax=12G`.
    public var memoryBudgetBytes = 8 << 30
    public init() {}

    /// The precision the model named `name` runs at here: `memberPrecision`, with the
    /// fall-backs of `ComputePrecision.onThisMachine`.
    public func precision(of name: String) -> ComputePrecision {
        (memberPrecision[name] ?? .float32).onThisMachine
    }
}

/// One member's output for a case, on the crop grid.
public struct MemberPrediction: Sendable {
    public init(model: String, regionProbabilities: Tensor, seconds: Double) {
        self.model = model
        self.regionProbabilities = regionProbabilities
        self.seconds = seconds
    }

    public var model: String
    /// Region probabilities 1×3×nz×ny×nx over the brain crop.
    public var regionProbabilities: Tensor
    public var seconds: Double
}

/// A segmented case.
public struct CaseSegmentation: Sendable {
    /// BraTS labels on the input grid (x fastest).
    public var labels: [UInt8]
    /// The brain crop every probability map covers.
    public var box: VoxelBox
    /// The ensemble's region probabilities 1×3×nz×ny×nx over the crop.
    public var ensembleProbabilities: Tensor
    public var members: [MemberPrediction]
    /// What `EnhancementCheck` did to the label map (nil when it is switched off).
    public var enhancementCheck: EnhancementCheck.Outcome?
}

/// Runs the pipeline of SPEC.md §3 for one case: crop to the brain, prepare each member's
/// input by its plan, run it (whole volume or sliding window, optional mirror TTA), bring its
/// region probabilities back to the crop, average the members, build and clean the label map,
/// relabel ET that does not enhance as core (`EnhancementCheck`), paste it into the input grid
/// and keep it inside the brain.
public final class CaseSegmenter {
    public let members: [SegmentationModel]
    public let options: SegmentationOptions

    public init(members: [SegmentationModel], options: SegmentationOptions = .init()) {
        precondition(!members.isEmpty, "an ensemble needs at least one model")
        self.members = members
        self.options = options
    }

    /// Segments `inputCase`; `progress` receives one line per stage.
    public func segment(_ inputCase: MultimodalCase, progress: (String) -> Void = { _ in }) -> CaseSegmentation {
        segment(inputCase, progress: progress, isCancelled: { false })!
    }

    /// The block the networks see: the bounding box of the case's non-zero voxels (the brain),
    /// or the whole grid when every voxel is zero.
    public static func brainBox(of inputCase: MultimodalCase) -> VoxelBox {
        VoxelBox.nonZero(in: inputCase.modalities) ?? VoxelBox(origin: [0, 0, 0], size: inputCase.geometry.dims)
    }

    /// Segments `inputCase`, asking `isCancelled` before each member; nil when it answered true
    /// (a daemon stopping between stages). `box`: its `brainBox`, when the caller has it already.
    public func segment(_ inputCase: MultimodalCase, box: VoxelBox? = nil, progress: (String) -> Void,
                        isCancelled: () -> Bool) -> CaseSegmentation? {
        let dims = inputCase.geometry.dims
        let box = box ?? Self.brainBox(of: inputCase)
        let crops = inputCase.modalities.map { box.crop($0.voxels, dims: dims) }
        var predictions: [MemberPrediction] = []
        for (index, model) in members.enumerated() {
            if isCancelled() { return nil }
            progress("\(model.name) (\(index + 1)/\(members.count))")
            let start = Date()
            let probabilities = predictRegions(model, crops: crops, box: box, spacing: inputCase.geometry.spacingInMillimetres)
            predictions.append(MemberPrediction(model: model.name, regionProbabilities: probabilities,
                                                seconds: Date().timeIntervalSince(start)))
        }
        let ensemble = average(predictions)
        var cropLabels = LabelMapBuilder.labels(fromRegionProbabilities: ensemble, dims: box.size, settings: options.labels)
        var enhancementCheck: EnhancementCheck.Outcome?
        if options.labels.requireEnhancement {
            enhancementCheck = EnhancementCheck.relabelNonEnhancing(
                &cropLabels, t1: crops[Modality.t1.rawValue], t1ce: crops[Modality.t1ce.rawValue],
                enhancingLabel: options.labels.convention.enhancingLabel, minimumEnhancingVoxels: options.labels.minimumEnhancingVoxels)
        }
        var labels = box.paste(cropLabels, into: dims, background: UInt8(0))
        Self.maskOutsideBrain(&labels, modalities: inputCase.modalities)
        return CaseSegmentation(labels: labels, box: box, ensembleProbabilities: ensemble, members: predictions,
                                enhancementCheck: enhancementCheck)
    }

    /// The memory segmenting `inputCase` will take with these members and `extraModels` more
    /// predictions held beside them (a student run alongside). `box`: as in `segment`.
    public func memoryEstimate(for inputCase: MultimodalCase, extraModels: Int = 0, box: VoxelBox? = nil) -> SegmentationMemory {
        let dims = inputCase.geometry.dims
        let box = box ?? Self.brainBox(of: inputCase)
        var estimate = SegmentationMemory(caseVoxels: dims.reduce(1, *), cropVoxels: box.voxelCount, models: members.count + extraModels)
        (estimate.dims, estimate.cropSize) = (dims, box.size)
        return estimate
    }

    /// Throws `CaseTooLargeForMemory` when `memoryEstimate` is above `options.memoryBudgetBytes`.
    public func checkMemory(_ inputCase: MultimodalCase, extraModels: Int = 0, box: VoxelBox? = nil) throws {
        let estimate = memoryEstimate(for: inputCase, extraModels: extraModels, box: box)
        guard estimate.estimatedBytes > options.memoryBudgetBytes else { return }
        throw CaseTooLargeForMemory(estimate: estimate, budgetBytes: options.memoryBudgetBytes)
    }

    /// Tumour labels only inside the brain: voxels where every modality is 0 (outside the
    /// skull-stripped brain) are set to background.
    static func maskOutsideBrain(_ labels: inout [UInt8], modalities: [Volume]) {
        for index in labels.indices where labels[index] != 0 {
            if modalities.allSatisfy({ $0.voxels[index] == 0 }) { labels[index] = 0 }
        }
    }

    /// Weighted mean of the members' region probabilities.
    func average(_ predictions: [MemberPrediction]) -> Tensor {
        let weights = predictions.map { options.memberWeights[$0.model] ?? 1 }
        let total = weights.reduce(0, +)
        var sum = Tensor.zeros(like: predictions[0].regionProbabilities)
        for (prediction, weight) in zip(predictions, weights) {
            sum.add(prediction.regionProbabilities, scaledBy: Float(weight / total))
        }
        return sum
    }

    /// One model's region probabilities over the crop (1×3×nz×ny×nx).
    public func predictRegions(_ model: SegmentationModel, crops: [[Float]], box: VoxelBox, spacing: [Double]) -> Tensor {
        let size = box.size  // x, y, z
        var input = Tensor(uninitializedShape: [1, 4, size[2], size[1], size[0]])
        input.withUnsafeMutableBufferPointer { target in
            for (channel, crop) in crops.enumerated() {
                let normalised = model.plan.normalise(crop)
                normalised.withUnsafeBufferPointer { (target.baseAddress! + channel * box.voxelCount).update(from: $0.baseAddress!, count: box.voxelCount) }
            }
        }
        let working = model.plan.workingSize(cropSize: size, spacing: spacing)
        let resampled = VolumeResampling.trilinear(input, depth: working[2], height: working[1], width: working[0])
        let multiple = model.plan.sizeMultiple
        let padded = Padding.pad(resampled, depth: Padding.roundedUp(working[2], toMultipleOf: multiple),
                                 height: Padding.roundedUp(working[1], toMultipleOf: multiple),
                                 width: Padding.roundedUp(working[0], toMultipleOf: multiple))
        let regions = predictWithAugmentation(model, padded)
        let unpadded = Padding.crop(regions, depth: working[2], height: working[1], width: working[0])
        return VolumeResampling.trilinear(unpadded, depth: size[2], height: size[1], width: size[0])
    }

    /// Region probabilities for a prepared input, averaged over the mirror flips when enabled.
    func predictWithAugmentation(_ model: SegmentationModel, _ input: Tensor) -> Tensor {
        let flips: [(Bool, Bool)] = options.testTimeAugmentation ? [(false, false), (false, true), (true, false), (true, true)] : [(false, false)]
        var sum: Tensor?
        for (flipY, flipX) in flips {
            let prediction = predictRegionsOnce(model, input.flipped(height: flipY, width: flipX)).flipped(height: flipY, width: flipX)
            if sum == nil { sum = prediction } else { sum!.add(prediction) }
        }
        var result = sum!
        if flips.count > 1 { result.scale(by: 1 / Float(flips.count)) }
        return result
    }

    private func predictRegionsOnce(_ model: SegmentationModel, _ input: Tensor) -> Tensor {
        let context = ForwardContext.inference(convolution: ConvolutionTuning.default.with(precision: options.precision(of: model.name)))
        let shape = input.volumeShape
        if shape.spatialCount <= options.maximumWholeVolumeVoxels {
            return model.regionProbabilities(fromOutput: model.forward(Variable(input), context).value)
        }
        let multiple = model.plan.sizeMultiple
        let window = (0..<3).map { axis in
            min([shape.depth, shape.height, shape.width][axis], max(multiple, options.windowSize[axis] / multiple * multiple))
        }
        return SlidingWindow.predict(input, window: window, outputChannels: 3) { patch in
            model.regionProbabilities(fromOutput: model.forward(Variable(patch), context).value)
        }
    }
}
