import Core
import Foundation
import Testing
import TestSupport

@Suite("Real data: cases are recognised", .enabled(if: RealData.isAvailable, Comment(rawValue: RealData.skipReason)))
struct RealDataCaseTests {
    static func directories(_ relative: String) -> [String] {
        guard let root = RealData.root else { return [] }
        let folder = "\(root)/\(relative)"
        return ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted().map { "\(folder)/\($0)" }
    }

    @Test("all 25 BraTS 2018 cases, the 2023-named and the RAS case are complete; labelled ones have a segmentation")
    func recognition() throws {
        let labelled = Self.directories("brats18/labelled")
        let unlabelled = Self.directories("brats18/unlabelled")
        #expect(labelled.count == 17 && unlabelled.count == 8)
        for directory in labelled { #expect(try CaseFiles.find(in: directory).segmentation != nil) }
        for directory in unlabelled { #expect(try CaseFiles.find(in: directory).segmentation == nil) }
        let root = RealData.root!
        #expect(try CaseFiles.find(in: "\(root)/formats/brats2023-naming").modalities[1].hasSuffix("-t1c.nii.gz"))
        #expect(try CaseFiles.find(in: "\(root)/formats/ras-orientation").modalities[3].hasSuffix("flair.nii.gz"))
        #expect { try CaseFiles.find(in: "\(root)/formats/mni152") } throws: { "\($0)".contains("missing") }
    }

    @Test("a real case loads, validates, and its brain box is plausible")
    func loadCase() throws {
        let loaded = try MultimodalCase.load(try CaseFiles.find(in: "\(RealData.root!)/brats18/labelled/Brats18_2013_3_1"))
        #expect(loaded.geometry.dims == [240, 240, 155])
        #expect(Set(loaded.truth ?? []).isSubset(of: [0, 1, 2, 4]))
        let box = try #require(VoxelBox.nonZero(in: loaded.modalities))
        #expect(box.size.allSatisfy { $0 > 100 && $0 < 240 })
    }
}
