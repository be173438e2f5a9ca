import Foundation

/// The project's JSON for people and scripts alike: pretty-printed, keys sorted (stable diffs),
/// slashes unescaped (paths stay readable), dates as ISO 8601. Used for model cards, pool
/// entries, retrain manifests and decisions, and every `--json` output. Non-finite numbers are
/// the strings "inf", "-inf" and "nan" (a hostile header's `scl_slope` can be any of them), as
/// in the case report, whose own encoder also writes dates with milliseconds.
public enum ReadableJSON {
    public static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return encoder
    }

    public static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return decoder
    }

    /// `value` as JSON text.
    public static func string<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}
