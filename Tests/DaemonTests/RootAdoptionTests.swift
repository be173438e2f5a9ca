import Daemon
import Foundation
import Testing
import TestSupport

/// The daemon adopts only a folder that is, or can become, a brainseg root: never `/`, never a
/// folder whose work/ holds what a brainseg run did not leave there.
@Suite("Root adoption")
struct RootAdoptionTests {
    @Test("an empty path and the file system's root are refused, however written or linked",
          arguments: ["", "/", "//", "/.", "/tmp/..", "/../"])
    func fileSystemRoot(_ root: String) {
        let problem = RootAdoption.problem(with: RootLayout(root: root))
        #expect(problem != nil, "\(root)")
        #expect(problem?.contains(root.isEmpty ? "empty path" : "file system's root") == true, "\(problem ?? "")")
    }

    @Test func symbolicLinkToTheFileSystemRoot() throws {
        let scratch = try TemporaryDirectory()
        try FileManager.default.createSymbolicLink(atPath: scratch.file("slash"), withDestinationPath: "/")
        #expect(RootAdoption.problem(with: RootLayout(root: scratch.file("slash")))?.contains("file system's root") == true)
    }

    @Test("a folder without a ledger is adopted while its work/ and deferred/ are empty; with entries there it is not brainseg's")
    func foreignFolders() throws {
        let scratch = try TemporaryDirectory()
        #expect(RootAdoption.problem(with: RootLayout(root: scratch.file("new"))) == nil, "a folder that does not exist yet")
        let layout = RootLayout(root: scratch.file("root"))
        try FileManager.default.createDirectory(atPath: layout.work, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(layout.incoming)/waiting", withIntermediateDirectories: true)
        #expect(RootAdoption.problem(with: layout) == nil, "empty work/, cases waiting in incoming/")
        for folder in [layout.work, layout.deferred] {
            try FileManager.default.createDirectory(atPath: "\(folder)/project", withIntermediateDirectories: true)
            let problem = RootAdoption.problem(with: layout)
            #expect(problem?.contains("not a brainseg root") == true && problem?.contains("\(folder) holds 1 entry (project)") == true, "\(problem ?? "")")
            try FileManager.default.removeItem(atPath: "\(folder)/project")
        }
        // A root brainseg has run on keeps its leftovers: they are its own unfinished cases.
        try FileManager.default.createDirectory(atPath: "\(layout.work)/case0", withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: layout.ledger, contents: Data())
        #expect(RootAdoption.problem(with: layout) == nil)
    }
}
