import Core

/// The loss each model trains with (MODELS.md "Training" and the teachers' sections):
/// region models Dice + BCE on [WT, TC, ET]; `resunet-vae` adds 0.1·MSE(x, x̂) + 0.1·KL when
/// its VAE branch is attached; `cascade` 0.4·D(full) + 0.3·D(½) + 0.2·D(¼), multi-class soft
/// Dice over the tumour classes with targets average-pooled to each scale.
public enum TrainingObjective {
    /// Region targets 1×3×D×H×W ([WT, TC, ET]) from BraTS labels (ET = 4 or 3).
    public static func regionTargets(_ labels: [UInt8], size: [Int]) -> Tensor {
        let count = labels.count
        var target = Tensor(shape: [1, 3] + size)
        target.withUnsafeMutableBufferPointer { t in
            for index in 0..<count {
                let label = labels[index]
                if label != 0 { t[index] = 1 }
                if label == 1 || label == 3 || label == 4 { t[count + index] = 1 }
                if label == 3 || label == 4 { t[2 * count + index] = 1 }
            }
        }
        return target
    }

    /// One-hot class targets 1×4×D×H×W over (background, NCR/NET, ED, ET).
    public static func classTargets(_ labels: [UInt8], size: [Int]) -> Tensor {
        let count = labels.count
        var target = Tensor(shape: [1, 4] + size)
        target.withUnsafeMutableBufferPointer { t in
            for index in 0..<count {
                let channel: Int
                switch labels[index] {
                case 1: channel = 1
                case 2: channel = 2
                case 3, 4: channel = 3
                default: channel = 0
                }
                t[channel * count + index] = 1
            }
        }
        return target
    }

    /// Region targets of a patch: its labels' (`regionTargets`), blended with its soft targets
    /// as (1 − w) · hard + w · soft when it has them and `softTargetWeight` w > 0.
    public static func regionTargets(_ patch: TrainingPatch, softTargetWeight: Float) -> Tensor {
        let size = Array(patch.image.shape.dropFirst(2))
        var target = regionTargets(patch.labels, size: size)
        guard let soft = patch.softTargets, softTargetWeight > 0 else { return target }
        precondition(soft.count == target.count, "soft targets must be 1×3×D×H×W like the patch")
        target.withUnsafeMutableBufferPointer { t in
            soft.withUnsafeBufferPointer { s in
                for index in t.indices { t[index] = (1 - softTargetWeight) * t[index] + softTargetWeight * s[index] }
            }
        }
        return target
    }

    /// Where a pseudo-labelled patch is trusted: voxel weights 1×3×D×H×W that are 1 where the
    /// teachers' probability of the region is at least `confidence` or at most 1 − `confidence`,
    /// and 0 in between, where the ensemble was unsure and its 0.5-thresholded label is a coin
    /// toss (`RegionLoss` voxel weights). nil when the patch has no teachers' probabilities
    /// or is not pseudo-labelled (an expert's labels are trusted everywhere), or `confidence` ≤ 0.5
    /// (every voxel counts).
    public static func confidentVoxels(_ patch: TrainingPatch, confidence: Float) -> Tensor? {
        guard let confidence = TrainingConfiguration.maskingConfidence(confidence), patch.isPseudoLabelled,
              let soft = patch.softTargets else { return nil }
        var weights = Tensor(uninitializedShape: soft.shape)
        soft.withUnsafeBufferPointer { s in
            weights.withUnsafeMutableBufferPointer { m in
                for index in s.indices { m[index] = max(s[index], 1 - s[index]) >= confidence ? 1 : 0 }
            }
        }
        return weights
    }

    /// The training loss of `model` on one patch, and its named terms for the log. Region
    /// models learn `regionTargets(patch, softTargetWeight:)`, on a pseudo-labelled patch only
    /// where the teachers were confident when `pseudoLabelConfidence` > 0.5
    /// (`confidentVoxels`); the cascade learns the labels.
    public static func loss(
        _ model: SegmentationModel, patch: TrainingPatch, softTargetWeight: Float = 0, pseudoLabelConfidence: Float = 0,
        context: ForwardContext
    ) -> (loss: Variable, terms: [String: Double]) {
        let voxelWeights = confidentVoxels(patch, confidence: pseudoLabelConfidence)
        let input = patch.image, labels = patch.labels
        let size = Array(input.shape.dropFirst(2))
        let x = Variable(input)
        switch model {
        case let cascade as CascadeModel:
            let stages = cascade.network.stages(x, context)
            let full = classTargets(labels, size: size)
            let half = ChannelKernelsAveragePool.pool(full, factor: 2)
            let quarter = ChannelKernelsAveragePool.pool(full, factor: 4)
            let dFull = context.multiClassSoftDiceLoss(probabilities: stages.full, oneHotTarget: Variable(full), classes: [1, 2, 3])
            let dHalf = context.multiClassSoftDiceLoss(probabilities: stages.half, oneHotTarget: Variable(half), classes: [1, 2, 3])
            let dQuarter = context.multiClassSoftDiceLoss(probabilities: stages.quarter, oneHotTarget: Variable(quarter), classes: [1, 2, 3])
            let total = context.add(context.add(context.scale(dFull, by: 0.4), context.scale(dHalf, by: 0.3)), context.scale(dQuarter, by: 0.2))
            return (total, ["dice_full": Double(dFull.value[flat: 0]), "dice_half": Double(dHalf.value[flat: 0]),
                            "dice_quarter": Double(dQuarter.value[flat: 0])])
        case let resunet as ResUNetVAEModel:
            let (logits, bottom) = resunet.network.segment(x, context)
            let (segmentation, terms) = context.regionLossWithTerms(logits: logits, target: Variable(regionTargets(patch, softTargetWeight: softTargetWeight)),
                                                                          voxelWeights: voxelWeights)
            guard let autoencoder = resunet.network.autoencoder else {
                return (segmentation, ["dice": terms.dice, "bce": terms.crossEntropy])
            }
            let (reconstruction, mean, logVariance) = autoencoder(bottom, context)
            let mse = context.meanSquaredError(reconstruction, x)
            let kl = context.klDivergence(mean: mean, logVariance: logVariance)
            let total = context.add(segmentation, context.add(context.scale(mse, by: 0.1), context.scale(kl, by: 0.1)))
            return (total, ["dice": terms.dice, "bce": terms.crossEntropy, "mse": Double(mse.value[flat: 0]), "kl": Double(kl.value[flat: 0])])
        default:
            let logits = model.forward(x, context)
            let (loss, terms) = context.regionLossWithTerms(logits: logits, target: Variable(regionTargets(patch, softTargetWeight: softTargetWeight)),
                                                                          voxelWeights: voxelWeights)
            return (loss, ["dice": terms.dice, "bce": terms.crossEntropy])
        }
    }
}

/// Average pooling of plain tensors (targets need no tape).
enum ChannelKernelsAveragePool {
    static func pool(_ tensor: Tensor, factor: Int) -> Tensor {
        ForwardContext.inference().averagePool(Variable(tensor), factor: factor).value
    }
}
