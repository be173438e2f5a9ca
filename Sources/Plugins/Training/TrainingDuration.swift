/// Training budgets as operators write them: `2h`, `45m`, `1h30m`, `90s`, or plain seconds.
public enum TrainingDuration {
    /// Why a duration could not be read.
    public struct Invalid: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    /// Seconds in `text`; throws `Invalid` for unknown units, malformed numbers or a total ≤ 0.
    public static func seconds(_ text: String) throws -> Double {
        var total = 0.0, number = ""
        for character in text {
            if character.isNumber || character == "." { number.append(character); continue }
            guard let value = Double(number) else { throw Invalid(description: "cannot read the duration '\(text)'") }
            switch character {
            case "h": total += value * 3600
            case "m": total += value * 60
            case "s": total += value
            default: throw Invalid(description: "cannot read the duration '\(text)' (use h, m, s)")
            }
            number = ""
        }
        if !number.isEmpty {
            guard let value = Double(number) else { throw Invalid(description: "cannot read '\(text)'") }
            total += value
        }
        guard total > 0 else { throw Invalid(description: "the budget must be positive") }
        return total
    }
}
