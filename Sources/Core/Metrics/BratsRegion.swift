/// The three nested tumour regions BraTS evaluates, and which labels form them.
public enum BratsRegion: String, Sendable, CaseIterable, Codable {
    /// Whole tumour: every tumour label.
    case wholeTumour = "WT"
    /// Tumour core: necrosis/non-enhancing core and enhancing tumour.
    case tumourCore = "TC"
    /// Enhancing tumour.
    case enhancingTumour = "ET"

    /// Channel order of region outputs and probability maps: [WT, TC, ET].
    public var channel: Int {
        switch self {
        case .wholeTumour: return 0
        case .tumourCore: return 1
        case .enhancingTumour: return 2
        }
    }
}

/// Label conventions: BraTS 2017–2021 (1 NCR/NET, 2 edema, 4 enhancing) or 2023 (ET is 3).
public enum LabelConvention: String, Sendable, CaseIterable, Codable {
    case brats2018
    case brats2023

    /// The label value of enhancing tumour.
    public var enhancingLabel: UInt8 { self == .brats2018 ? 4 : 3 }

    /// Labels that make up `region` (MODELS.md "Metrics").
    public func labels(of region: BratsRegion) -> Set<UInt8> {
        switch region {
        case .wholeTumour: return [1, 2, enhancingLabel]
        case .tumourCore: return [1, enhancingLabel]
        case .enhancingTumour: return [enhancingLabel]
        }
    }

    /// A 0/1 mask of `region` in a label map.
    public func mask(of region: BratsRegion, in labels: [UInt8]) -> [UInt8] {
        var lookup = [UInt8](repeating: 0, count: 256)
        for label in self.labels(of: region) { lookup[Int(label)] = 1 }
        return labels.map { lookup[Int($0)] }
    }

    /// `body` applied to each region's masks of two label maps over the same grid, e.g. a
    /// prediction and an expert segmentation: `body(predictedMask, truthMask)`.
    public func byRegion<Result>(_ prediction: [UInt8], _ truth: [UInt8],
                                 _ body: (_ predicted: [UInt8], _ truth: [UInt8]) -> Result) -> [BratsRegion: Result] {
        precondition(prediction.count == truth.count, "label maps of different sizes")
        var result: [BratsRegion: Result] = [:]
        for region in BratsRegion.allCases { result[region] = body(mask(of: region, in: prediction), mask(of: region, in: truth)) }
        return result
    }
}
