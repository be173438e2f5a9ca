import Daemon
import Foundation
import Glibc
import Logging
import Testing
import TestSupport

/// Journal field names, the stderr line format, the handler choice, the event catalogue, and —
/// as root — a round trip through a real systemd-journald. Serialized (through the parent suite):
/// the round trip uses the fixed socket /run/systemd/journal/socket.
extension SystemdIntegrationTests {
    @Suite("journald logging")
    struct JournaldTests {
        @Test("metadata keys become valid journal field names", arguments: [
            ("caseId", "CASE_ID"), ("CASE_ID", "CASE_ID"), ("durationMs", "DURATION_MS"),
            ("voxel.count", "VOXEL_COUNT"), ("_trusted", "TRUSTED"), ("__PID", "PID"),
            ("case-id", "CASE_ID"), ("a..b", "A_B"), ("3d", "F_3D"), ("", "FIELD"), ("___", "FIELD"),
            ("Ünïcode key", "N_CODE_KEY"), ("message", "META_MESSAGE"), ("PRIORITY", "META_PRIORITY"),
            ("MESSAGE_ID", "MESSAGE_ID"), ("dice2WT", "DICE2_WT"),
        ])
        func sanitisedFieldNames(key: String, expected: String) {
            let name = JournalFieldName.sanitized(key)
            #expect(name == expected)
            #expect(JournalFieldName.isValid(name))
        }

        @Test func longNamesAreCutTo64Characters() {
            let name = JournalFieldName.sanitized(String(repeating: "ab", count: 50))
            #expect(name.utf8.count == 64)
            #expect(JournalFieldName.isValid(name))
        }

        @Test func validityFollowsJournaldsRules() {
            #expect(JournalFieldName.isValid("CASE_ID"))
            #expect(JournalFieldName.isValid("DICE_WT"))
            #expect(!JournalFieldName.isValid("case_id"))
            #expect(!JournalFieldName.isValid("_PID"))
            #expect(!JournalFieldName.isValid("1ABC"))
            #expect(!JournalFieldName.isValid("A-B"))
            #expect(!JournalFieldName.isValid(""))
            #expect(!JournalFieldName.isValid(String(repeating: "A", count: 65)))
        }

        @Test func eventCatalogueHasFixedDistinctIdentifiers() {
            let identifiers = DaemonEvent.allCases.map(\.messageID)
            #expect(identifiers.count == 14)
            #expect(Set(identifiers).count == identifiers.count)
            for identifier in identifiers {
                #expect(identifier.utf8.count == 32)
                #expect(identifier.allSatisfy { ("0"..."9").contains($0) || ("a"..."f").contains($0) })
            }
            // Pinned: changing an identifier breaks operators' saved queries.
            #expect(DaemonEvent.caseCompleted.messageID == "74f87671f548409daf5f55fd3b86fe2a")
            #expect(DaemonEvent.caseFailed.messageID == "0ad8131db3c44c159feadd153d43ed60")
            for field in DaemonEventField.allCases { #expect(JournalFieldName.isValid(field.name)) }
            #expect(DaemonEvent.caseFailed.defaultLevel == .error)
            #expect(DaemonEvent.caseCompleted.summary == "case completed")
        }

        @Test func journalFieldsOfAnEvent() {
            var handler = JournaldLogHandler(label: "test", identifier: "brainseg")
            handler[metadataKey: "host.name"] = "scanner-a"
            handler[metadataKey: "caseId"] = "overridden"
            let event = LogEvent(level: .warning, message: "case retried", error: nil,
                                 metadata: ["caseId": "CASE-7", "message": "shadow", "durationMs": "12"],
                                 source: nil, file: "Daemon/X.swift", function: "run()", line: 42)
            let fields = handler.journalFields(for: event)
            let names = fields.map(\.name)
            #expect(Array(names.prefix(6)) == ["MESSAGE", "PRIORITY", "SYSLOG_IDENTIFIER", "CODE_FILE", "CODE_LINE", "CODE_FUNC"])
            let values = Dictionary(fields.map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first })
            #expect(values["MESSAGE"] == "case retried")
            #expect(values["PRIORITY"] == "4")
            #expect(values["CODE_LINE"] == "42")
            #expect(values["CASE_ID"] == "CASE-7", "the call's metadata wins over the handler's")
            #expect(values["HOST_NAME"] == "scanner-a")
            #expect(values["META_MESSAGE"] == "shadow")
            #expect(values["DURATION_MS"] == "12")
            #expect(names.filter { $0 == "MESSAGE" }.count == 1)
            #expect(names.allSatisfy(JournalFieldName.isValid))
        }

        @Test func prioritiesFollowSyslog() {
            #expect(JournaldLogHandler.priority(for: .trace) == 7)
            #expect(JournaldLogHandler.priority(for: .info) == 6)
            #expect(JournaldLogHandler.priority(for: .notice) == 5)
            #expect(JournaldLogHandler.priority(for: .error) == 3)
            #expect(JournaldLogHandler.priority(for: .critical) == 2)
        }

        @Test func standardErrorLineFormat() {
            let line = StandardErrorLogHandler.formatLine(
                timestamp: StandardErrorLogHandler.timestamp(secondsSinceEpoch: 1_795_000_000, milliseconds: 7),
                level: .error, message: "case failed: A\nB",
                fields: [("CASE_ID", "A"), ("REASON", "missing t2 \"file\""), ("EMPTY", ""), ("PATH", "a=b\\c")])
            #expect(line == "2026-11-18T11:06:40.007Z error case failed: A\\nB CASE_ID=A REASON=\"missing t2 \\\"file\\\"\" EMPTY=\"\" PATH=\"a=b\\\\c\"\n")
            #expect(StandardErrorLogHandler.timestamp(secondsSinceEpoch: 0, milliseconds: 999) == "1970-01-01T00:00:00.999Z")
        }

        @Test func standardErrorHandlerWritesEventsAsOneLine() {
            let captured = CapturedLines()
            let logger = Logger(label: "test") { label in
                StandardErrorLogHandler(label: label, logLevel: .info, output: { captured.append($0) })
            }
            logger.log(.caseCompleted, fields: [.caseID: "Brats18_2013_3_1", .durationMilliseconds: 41200, .wholeTumourMillilitres: 23.5])
            logger.debug("below the level")
            let lines = captured.lines
            #expect(lines.count == 1)
            let line = lines.first ?? ""
            #expect(line.hasSuffix(" info case completed: Brats18_2013_3_1 CASE_ID=Brats18_2013_3_1 DURATION_MS=41200 EVENT=case-completed WT_ML=23.5\n"))
            #expect(!line.contains("MESSAGE_ID"))
            #expect(line.filter { $0 == "\n" }.count == 1)
        }

        @Test func targetChoice() {
            #expect(DaemonLogging.chooseTarget(forced: nil, standardErrorIsTerminal: true, journalSocketExists: true) == .standardError)
            #expect(DaemonLogging.chooseTarget(forced: nil, standardErrorIsTerminal: false, journalSocketExists: false) == .standardError)
            #expect(DaemonLogging.chooseTarget(forced: nil, standardErrorIsTerminal: false, journalSocketExists: true) == .journal)
            #expect(DaemonLogging.chooseTarget(forced: "stderr", standardErrorIsTerminal: false, journalSocketExists: true) == .standardError)
            #expect(DaemonLogging.chooseTarget(forced: "journal", standardErrorIsTerminal: true, journalSocketExists: false) == .journal)
            #expect(DaemonLogging.chooseTarget(forced: "bogus", standardErrorIsTerminal: false, journalSocketExists: true) == .journal)
        }

        @Test(.enabled(if: TestJournald.unavailableReason == nil,
                       "needs root and systemd-journald (\(TestJournald.unavailableReason ?? "available"))"))
        func eventFieldsComeBackFromARealJournald() throws {
            let journald = TestJournald()
            try journald.start()
            defer { journald.stop() }

            let caseID = "CASE-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            let logger = Logger(label: "brainseg.test") { JournaldLogHandler(label: $0, identifier: "brainseg", logLevel: .info) }
            logger.log(.caseCompleted, fields: [
                .caseID: caseID, .stage: "write", .durationMilliseconds: 41200, .model: "ensemble",
                .modelVersion: "1", .wholeTumourMillilitres: 23.5, .diceWholeTumour: 0.91,
            ])
            logger.info("metadata with awkward keys", metadata: ["caseId": "\(caseID)-raw", "voxel.count": "4096", "_trusted": "no"])

            let entries = try journald.entries(matching: ["CASE_ID=\(caseID)"])
            let entry = try #require(entries.first, "no journal entry with CASE_ID=\(caseID) (started here: \(journald.startedHere))")
            #expect(entries.count == 1)
            #expect(entry["MESSAGE_ID"] == DaemonEvent.caseCompleted.messageID)
            #expect(entry["MESSAGE"] == "case completed: \(caseID)")
            #expect(entry["EVENT"] == "case-completed")
            #expect(entry["PRIORITY"] == "6")
            #expect(entry["SYSLOG_IDENTIFIER"] == "brainseg")
            #expect(entry["STAGE"] == "write")
            #expect(entry["DURATION_MS"] == "41200")
            #expect(entry["MODEL"] == "ensemble")
            #expect(entry["MODEL_VERSION"] == "1")
            #expect(entry["WT_ML"] == "23.5")
            #expect(entry["DICE_WT"] == "0.91")
            #expect(entry["CODE_FILE"]?.hasSuffix("JournaldTests.swift") == true)
            #expect(entry["CODE_FUNC"] == "eventFieldsComeBackFromARealJournald()")
            #expect(entry["_TRANSPORT"] == "journal")

            let raw = try #require(try journald.entries(matching: ["CASE_ID=\(caseID)-raw"]).first)
            #expect(raw["VOXEL_COUNT"] == "4096")
            #expect(raw["TRUSTED"] == "no")
            #expect(raw["MESSAGE_ID"] == nil)
        }
    }

}

/// Lines captured from a `StandardErrorLogHandler` in a test.
private final class CapturedLines: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [String] = []
    func append(_ line: String) { lock.lock(); storage.append(line); lock.unlock() }
    var lines: [String] { lock.lock(); defer { lock.unlock() }; return storage }
}
