import Foundation

/// The human form of `StatusReport`: short sections with compact, aligned tables. Times are
/// local (`yyyy-MM-dd HH:mm:ss`); long reasons are cut to one line of at most 100 characters.
extension StatusReport {
    public func text(timeZone: TimeZone = .current) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = timeZone
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
        let time = { (date: Date) in formatter.string(from: date) }
        var lines: [String] = []

        let total = counts.values.reduce(0, +)
        lines.append("brainseg status · root \(root) · \(ledgerNote == nil ? "ledger: \(total) case\(total == 1 ? "" : "s")" : "ledger: none")")
        if let ledgerNote { lines.append("  note: \(ledgerNote)") }

        let processing = queue.filter { $0.state == CaseState.processing.rawValue }.count
        lines.append("")
        lines.append("Queue: \(incoming.count) in incoming/, \(queue.count) unfinished in the ledger (\(processing) processing)")
        if !incoming.isEmpty {
            let shown = incoming.prefix(10).joined(separator: ", ")
            lines.append("  incoming: \(shown)\(incoming.count > 10 ? ", … (\(incoming.count - 10) more)" : "")")
        }
        if !queue.isEmpty {
            lines += Self.table(header: ["#", "CASE", "STATE", "ATTEMPTS", "SINCE"],
                                rows: queue.map { ["\($0.id)", $0.caseName, $0.state, "\($0.attempts)", time($0.updatedAt)] })
        }

        lines.append("")
        if recent.isEmpty {
            lines.append("Recent cases: none")
        } else {
            lines.append("Recent cases:")
            lines += Self.table(header: ["#", "CASE", "OUTCOME", "TIME", "UPDATED", "WT/TC/ET mL", "MODELS"],
                                rows: recent.map { line in
                                    ["\(line.id)", line.caseName, Self.outcome(line), line.seconds.map(Self.duration) ?? "-",
                                     time(line.updatedAt), Self.volumes(line.volumesML), Self.versions(line.modelVersions)]
                                })
        }

        lines.append("")
        if !stuck.isEmpty {
            lines.append("Stuck in incoming/ (the daemon cannot claim them):")
            lines.append(contentsOf: Self.table(header: ["CASE", "SINCE", "TRIES", "REASON"],
                                                rows: stuck.map { [$0.name, time($0.firstSeen), "\($0.tries)", Self.oneLine($0.reason)] }))
            lines.append("")
        }
        if failures.isEmpty {
            lines.append("Failures: none")
        } else {
            lines.append("Failures:")
            lines += Self.table(header: ["#", "CASE", "STATE", "WHEN", "REASON"],
                                rows: failures.map { ["\($0.id)", $0.caseName, $0.state, time($0.updatedAt), Self.oneLine($0.error ?? "(no reason recorded)")] })
        }

        lines.append("")
        if models.isEmpty {
            lines.append("Models: none installed")
        } else {
            lines.append("Models:")
            lines += Self.table(header: ["NAME", "VERSION", "DATE", "VALIDATION DICE WT/TC/ET", "NOTE"],
                                rows: models.map { model in
                                    [model.name, model.currentVersion ?? "-", model.date.map { String($0.prefix(10)) } ?? "-",
                                     Self.dice(model.validationDice), model.note ?? ""]
                                })
        }

        lines.append("")
        lines.append("Pool: \(poolSize.map { "\($0) entr\($0 == 1 ? "y" : "ies")" } ?? "no pool folder")")
        if let lastRetrain {
            lines.append("Last retrain: \(time(lastRetrain.at)) · \(lastRetrain.model) \(lastRetrain.version)\(lastRetrain.detail.map { " · \(Self.oneLine($0))" } ?? "")")
        } else {
            lines.append("Last retrain: never")
        }
        return lines.joined(separator: "\n")
    }

    /// Left-aligned columns separated by two spaces, indented by two; trailing blanks trimmed.
    static func table(header: [String], rows: [[String]]) -> [String] {
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        return all.map { row in
            var line = "  "
            for (column, cell) in row.enumerated() {
                line += cell
                if column < row.count - 1 { line += String(repeating: " ", count: widths[column] - cell.count + 2) }
            }
            while line.hasSuffix(" ") { line.removeLast() }
            return line
        }
    }

    static func outcome(_ line: CaseLine) -> String {
        if let original = line.duplicateOf, line.state == CaseState.duplicate.rawValue { return "duplicate of #\(original)" }
        if let dice = line.dice, !dice.isEmpty { return "\(line.state) (Dice \(Self.dice(dice)))" }
        return line.state
    }

    static func duration(_ seconds: Double) -> String {
        if seconds < 60 { return String(format: "%.1f s", seconds) }
        let whole = Int(seconds.rounded())
        return whole < 3600 ? "\(whole / 60) min \(whole % 60) s" : "\(whole / 3600) h \(whole % 3600 / 60) min"
    }

    static func volumes(_ volumes: [String: Double]) -> String {
        guard !volumes.isEmpty else { return "-" }
        return ["WT", "TC", "ET"].map { volumes[$0].map { String(format: "%.1f", $0) } ?? "?" }.joined(separator: "/")
    }

    static func dice(_ dice: [String: Double]?) -> String {
        guard let dice, !dice.isEmpty else { return "-" }
        return ["WT", "TC", "ET"].map { dice[$0].map { String(format: "%.2f", $0) } ?? "?" }.joined(separator: "/")
    }

    static func versions(_ versions: [String: String]) -> String {
        versions.isEmpty ? "-" : versions.keys.sorted().map { "\($0) \(versions[$0]!)" }.joined(separator: ", ")
    }

    static func oneLine(_ text: String) -> String {
        let flat = text.split(whereSeparator: \.isNewline).joined(separator: " ")
        return flat.count > 100 ? String(flat.prefix(99)) + "…" : flat
    }
}
