import CNifti
import Core
import Foundation
import Testing
import TestSupport

/// Headers a hostile or broken sender can produce, each of which used to trap the process,
/// exhaust memory or be accepted as valid (issue #13: poison pills). Every one must now be a
/// typed `NiftiError` naming the file. Files are made from the committed fixtures at run time.
@Suite("NIfTI reader refuses hostile headers")
struct NiftiHostileHeaderTests {
    let scratch: TemporaryDirectory
    let plain = Fixtures.path("nifti/scaled_int16.nii")

    init() throws { scratch = try TemporaryDirectory() }

    private func patched(_ name: String, _ edit: (inout [UInt8]) -> Void) throws -> String {
        var data = [UInt8](try Data(contentsOf: URL(fileURLWithPath: plain)))
        edit(&data)
        let path = scratch.file(name)
        try Data(data).write(to: URL(fileURLWithPath: path))
        return path
    }

    private func store<T>(_ value: T, at offset: Int, in data: inout [UInt8]) {
        withUnsafeBytes(of: value) { data.replaceSubrange(offset..<offset + $0.count, with: $0) }
    }

    /// The kind of error reading `path` gives, or nil (and a recorded issue) when it is accepted.
    private func refusal(_ path: String, sourceLocation: SourceLocation = #_sourceLocation) -> NiftiError.Kind? {
        do {
            _ = try NiftiReader.read(from: path)
            Issue.record("\(path) was accepted", sourceLocation: sourceLocation)
            return nil
        } catch let error as NiftiError {
            #expect(error.path == path, sourceLocation: sourceLocation)
            return error.kind
        } catch {
            Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
            return nil
        }
    }

    @Test("vox_offset NaN, ±Inf, beyond Int, huge, inside the header or fractional is refused",
          arguments: [Float.nan, .infinity, -.infinity, 9.3e18, 8e9, 1e9, 17e6, 348, 351, 352.5, -352])
    func badVoxelOffset(value: Float) throws {
        let path = try patched("offset.nii") { store(value.bitPattern.littleEndian, at: 108, in: &$0) }
        #expect(refusal(path) == .notNifti)
    }

    @Test("a wrong fourth magic byte is refused")
    func fourthMagicByte() throws {
        let path = try patched("magic.nii") { $0[347] = 0x20 }
        #expect(refusal(path) == .notNifti)
    }

    @Test("voxel sizes that are zero, negative, NaN or infinite are refused", arguments: [Float(0), -1, .nan, .infinity])
    func badVoxelSize(value: Float) throws {
        let path = try patched("pixdim.nii") { store(value.bitPattern.littleEndian, at: 80, in: &$0) }  // pixdim[1]
        #expect(refusal(path) == .invalidDimensions)
    }

    @Test("a seven-dimensional header whose voxel count overflows Int is refused, not trapped")
    func voxelCountOverflow() throws {
        let path = try patched("overflow.nii") { data in
            store(Int16(7).littleEndian, at: 40, in: &data)
            for axis in 1...7 { store(Int16(1024).littleEndian, at: 40 + 2 * axis, in: &data) }
        }
        do {
            _ = try NiftiReader.read(from: path, requireThreeDimensional: false)
            Issue.record("accepted")
        } catch let error as NiftiError {
            #expect(error.kind == .tooLarge)
        }
    }

    @Test("gzip data followed by garbage is refused")
    func gzipTrailingGarbage() throws {
        var data = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("nifti/dtype_int16.nii.gz"))))
        data += Array("garbage after the stream".utf8)
        let path = scratch.file("garbage.nii.gz")
        try Data(data).write(to: URL(fileURLWithPath: path))
        #expect(refusal(path) == .corruptCompression)
    }

    @Test("the committed fixtures still read (the new checks refuse nothing valid)")
    func fixturesStillRead() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Fixtures.path("nifti"))
            .filter { $0.hasSuffix(".nii") || $0.hasSuffix(".nii.gz") }
            .filter { !["nonfinite_float32.nii", "short_data_int16.nii.gz"].contains($0) }
        #expect(names.count >= 15)
        for name in names {
            #expect(throws: Never.self, "\(name)") {
                _ = try NiftiReader.read(from: Fixtures.path("nifti/\(name)"), requireThreeDimensional: false)
            }
        }
    }
}
