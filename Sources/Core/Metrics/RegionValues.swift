/// One value per BraTS evaluation region (whole tumour, tumour core, enhancing tumour): the
/// shape of volumes, Dice scores, agreement scores and thresholds alike. Encoded as a JSON
/// object with the keys `WT`, `TC` and `ET`.
public struct RegionValues<Value> {
    public var wholeTumour: Value
    public var tumourCore: Value
    public var enhancingTumour: Value

    public init(wholeTumour: Value, tumourCore: Value, enhancingTumour: Value) {
        self.wholeTumour = wholeTumour
        self.tumourCore = tumourCore
        self.enhancingTumour = enhancingTumour
    }

    /// Values in channel order [WT, TC, ET]; `values` must hold exactly three.
    public init(_ values: [Value]) {
        precondition(values.count == 3, "one value per region: WT, TC, ET")
        self.init(wholeTumour: values[0], tumourCore: values[1], enhancingTumour: values[2])
    }

    /// The value of each region computed by `value`.
    public init(_ value: (BratsRegion) throws -> Value) rethrows {
        self.init(wholeTumour: try value(.wholeTumour), tumourCore: try value(.tumourCore), enhancingTumour: try value(.enhancingTumour))
    }

    public subscript(region: BratsRegion) -> Value {
        get {
            switch region {
            case .wholeTumour: return wholeTumour
            case .tumourCore: return tumourCore
            case .enhancingTumour: return enhancingTumour
            }
        }
        set {
            switch region {
            case .wholeTumour: wholeTumour = newValue
            case .tumourCore: tumourCore = newValue
            case .enhancingTumour: enhancingTumour = newValue
            }
        }
    }

    /// The values in channel order [WT, TC, ET].
    public var values: [Value] { [wholeTumour, tumourCore, enhancingTumour] }

    public func map<Other>(_ transform: (Value) throws -> Other) rethrows -> RegionValues<Other> {
        RegionValues<Other>(wholeTumour: try transform(wholeTumour), tumourCore: try transform(tumourCore),
                            enhancingTumour: try transform(enhancingTumour))
    }
}

extension RegionValues where Value == Double {
    /// The mean over the three regions.
    public var mean: Double { (wholeTumour + tumourCore + enhancingTumour) / 3 }
}

extension RegionValues: Sendable where Value: Sendable {}
extension RegionValues: Equatable where Value: Equatable {}

extension RegionValues: Codable where Value: Codable {
    enum CodingKeys: String, CodingKey {
        case wholeTumour = "WT", tumourCore = "TC", enhancingTumour = "ET"
    }
}
