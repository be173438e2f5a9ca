import Foundation

/// The project's JSON for people and scripts alike: pretty-printed, keys sorted (stable diffs),
/// slashes unescaped (paths stay readable), dates as ISO 8601. Used for model cards, pool
/// entries, retrain manifests and decisions, and every `--json` output. (The case report has its
/// own encoder: dates with milliseconds, non-finite numbers as strings.)
public enum ReadableJSON {
    public static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }

    public static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }

    /// `value` as JSON text.
    public static func string<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}
