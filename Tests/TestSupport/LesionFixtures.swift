import Foundation

/// The lesion-wise reference values written by `Fixtures/lesion/make_lesion_fixtures.py` (the
/// official BraTS evaluator, `gli` rules) and how a computed figure is held against them:
/// counts exactly, Dice to 1e-6, HD95 to 1e-3 mm, and `nan`/`inf` (strings in the JSON)
/// only by themselves.
public enum LesionFixtures {
    /// One figure as the fixture stores it: a number or one of "nan", "inf".
    public struct Value: Decodable, Sendable, CustomStringConvertible {
        public var number: Double

        public init(from decoder: Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let value = try? container.decode(Double.self) {
                number = value
                return
            }
            switch try container.decode(String.self) {
            case "nan": number = .nan
            case "inf": number = .infinity
            case "-inf": number = -.infinity
            case let other:
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "not a number: \(other)")
            }
        }

        public var description: String { "\(number)" }
    }

    /// Pair or case → region (`WT`, `TC`, `ET`) → figure name → value.
    public typealias Expected = [String: [String: [String: Value]]]

    /// `lesion/expected_synthetic.json` or `lesion/expected_real.json`.
    public static func expected(_ name: String) throws -> Expected {
        try Fixtures.json("lesion/\(name)", as: Expected.self)
    }

    /// The synthetic pairs: `lesion/synthetic/<pair>_pred.nii.gz` and `…_truth.nii.gz`.
    public static func syntheticPath(_ pair: String, _ side: String) -> String {
        Fixtures.path("lesion/synthetic/\(pair)_\(side).nii.gz")
    }

    /// A committed prediction of a real case: `lesion/real/<case>_seg.nii.gz`.
    public static func realPredictionPath(_ caseIdentifier: String) -> String {
        Fixtures.path("lesion/real/\(caseIdentifier)_seg.nii.gz")
    }

    /// Nil when `actual` agrees with `wanted` for figure `name`, else what differs.
    public static func mismatch(_ name: String, actual: Double, wanted: Double) -> String? {
        let agrees: Bool
        if wanted.isNaN || actual.isNaN {
            agrees = wanted.isNaN && actual.isNaN
        } else if wanted.isInfinite || actual.isInfinite {
            agrees = wanted == actual
        } else if ["tp", "fp", "fn"].contains(name) {
            agrees = actual == wanted
        } else {
            agrees = abs(actual - wanted) <= (name.hasSuffix("hd95") ? 1e-3 : 1e-6)
        }
        return agrees ? nil : "\(name): \(actual) vs evaluator \(wanted)"
    }
}
