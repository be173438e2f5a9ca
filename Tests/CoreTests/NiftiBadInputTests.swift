import Core
import Foundation
import Glibc
import Testing
import TestSupport

/// Every kind of broken input gives a typed error that names the file, and never crashes or
/// hangs. Broken files are made from the good fixtures at run time.
@Suite("NIfTI reader refuses bad input")
struct NiftiBadInputTests {
    let scratch: TemporaryDirectory
    let goodCompressed = Fixtures.path("nifti/dtype_int16.nii.gz")
    let goodPlain = Fixtures.path("nifti/scaled_int16.nii")

    init() throws { scratch = try TemporaryDirectory() }

    private func bytes(_ path: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    private func write(_ bytes: [UInt8], _ name: String) throws -> String {
        let path = scratch.file(name)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Reads `path` and returns the error, failing the test if reading succeeds.
    private func failure(_ path: String, requireThreeDimensional: Bool = true,
                         sourceLocation: SourceLocation = #_sourceLocation) -> NiftiError? {
        do {
            _ = try NiftiReader.read(from: path, requireThreeDimensional: requireThreeDimensional)
            Issue.record("reading \(path) succeeded; expected an error", sourceLocation: sourceLocation)
            return nil
        } catch let error as NiftiError {
            #expect(error.path == path, sourceLocation: sourceLocation)
            #expect(error.description.hasPrefix(path), sourceLocation: sourceLocation)
            #expect(!error.description.contains("\n"), "one-line message", sourceLocation: sourceLocation)
            return error
        } catch {
            Issue.record("unexpected error type: \(error)", sourceLocation: sourceLocation)
            return nil
        }
    }

    /// A plain NIfTI-1 file with one int16 header field overwritten (offsets per nifti1.h).
    private func patchedHeader(_ name: String, offset: Int, value: Int16) throws -> String {
        var data = try bytes(goodPlain)
        withUnsafeBytes(of: value.littleEndian) { data.replaceSubrange(offset..<offset + 2, with: $0) }
        return try write(data, name)
    }

    @Test func missingFile() {
        #expect(failure(scratch.file("absent.nii.gz"))?.kind == .fileNotFound)
    }

    @Test func emptyFile() throws {
        #expect(failure(try write([], "empty.nii"))?.kind == .notNifti)
    }

    @Test func textFileIsNotNifti() throws {
        let path = try write(Array(String(repeating: "not an image\n", count: 60).utf8), "text.nii")
        let error = failure(path)
        #expect(error?.kind == .notNifti)
        #expect(error?.detail.contains("not a NIfTI file") == true)
    }

    @Test func analyzeStyleMagicIsRefused() throws {
        var data = try bytes(goodPlain)
        data[344] = UInt8(ascii: "x")  // magic "n+1" → "x+1"
        #expect(failure(try write(data, "badmagic.nii"))?.kind == .notNifti)
        data[344] = UInt8(ascii: "n"); data[345] = UInt8(ascii: "i")  // "ni1": .hdr/.img pair
        #expect(failure(try write(data, "pair.nii"))?.kind == .unsupportedVariant)
    }

    @Test func truncatedGzip() throws {
        let data = try bytes(goodCompressed)
        let error = failure(try write(Array(data.prefix(data.count / 2)), "truncated.nii.gz"))
        #expect(error?.kind == .corruptCompression || error?.kind == .truncatedData)
    }

    @Test("a 3D file whose dim[0] says 2 (its data a whole volume) is refused, not read as its first slice; plain and gzip")
    func rankUndercountsTheData() throws {
        let source = scratch.file("source.nii")
        try NiftiWriter.write(Volume(geometry: VolumeGeometry(dims: [20, 20, 20])), to: source)
        var data = try bytes(source)
        withUnsafeBytes(of: Int16(2).littleEndian) { data.replaceSubrange(40..<42, with: $0) }  // dim[0]
        let plain = try write(data, "rank.nii")
        let gzip = Process()
        gzip.executableURL = URL(fileURLWithPath: "/bin/gzip")
        gzip.arguments = ["-k", plain]
        try gzip.run()
        gzip.waitUntilExit()
        for path in [plain, plain + ".gz"] {
            let error = failure(path)
            #expect(error?.kind == .invalidDimensions)
            #expect(error?.detail.contains("more bytes follow them") == true, "\(String(describing: error))")
        }
        #expect((try? NiftiReader.read(from: source)) != nil, "the unpatched file reads")
    }

    @Test("an extender that announces extensions with vox_offset 352 (no room for them) is refused, not read shifted")
    func extensionsWithoutRoom() throws {
        let source = scratch.file("extender-source.nii")
        try NiftiWriter.write(Volume(geometry: VolumeGeometry(dims: [8, 8, 8])), to: source)
        var data = try bytes(source)
        #expect(data[348] == 0, "the writer writes no extensions")
        data[348] = 1
        let error = failure(try write(data, "extender.nii"))
        #expect(error?.kind == .notNifti)
        #expect(error?.detail.contains("leaves no room for them") == true, "\(String(describing: error))")
    }

    @Test("a NIfTI-2 file cut inside its 540-byte header is called truncated")
    func nifti2HeaderCut() throws {
        let gunzip = Process(), output = Pipe()
        gunzip.executableURL = URL(fileURLWithPath: "/bin/gzip")
        gunzip.arguments = ["-dc", Fixtures.path("nifti/nifti2_int16.nii.gz")]
        gunzip.standardOutput = output
        try gunzip.run()
        let whole = [UInt8](output.fileHandleForReading.readDataToEndOfFile())
        gunzip.waitUntilExit()
        #expect(whole.count > 540)
        let error = failure(try write(Array(whole.prefix(400)), "nifti2-cut.nii"))
        #expect(error?.kind == .truncatedData)
        #expect(error?.detail.contains("NIfTI-2 header of 540 bytes") == true, "\(String(describing: error))")
    }

    @Test func corruptGzipPayload() throws {
        var data = try bytes(goodCompressed)
        for index in 40..<min(data.count - 8, 80) { data[index] ^= 0x5a }
        #expect(failure(try write(data, "corrupt.nii.gz"))?.kind == .corruptCompression)
    }

    @Test func corruptGzipChecksum() throws {
        var data = try bytes(goodCompressed)
        data[data.count - 6] ^= 0xff  // inside the CRC-32 of the trailer
        let error = failure(try write(data, "badcrc.nii.gz"))
        #expect(error?.kind == .corruptCompression)
        #expect(error?.detail.contains("checksum (CRC-32) does not match") == true && error?.detail.contains("<fd:") == false,
                "\(String(describing: error))")
    }

    @Test("a gzip file missing the last bytes of its trailer is said to be truncated, among the possible causes")
    func gzipTrailerCut() throws {
        let data = try bytes(goodCompressed)
        let error = failure(try write(Array(data.dropLast(3)), "cut.nii.gz"))
        #expect(error?.kind == .corruptCompression)
        #expect(error?.detail.contains("truncated") == true, "\(String(describing: error))")
    }

    @Test func headerDeclaresMoreDataThanFileHolds() throws {
        let data = try bytes(goodPlain)
        let error = failure(try write(Array(data.dropLast(7)), "short.nii"))
        #expect(error?.kind == .truncatedData)
        #expect(error?.detail.contains("holds only") == true)
        // Same inside a perfectly valid gzip stream.
        let gz = Fixtures.path("nifti/\(NiftiFixtureExpectations.shared.invalid.shortData)")
        #expect(failure(gz)?.kind == .truncatedData)
    }

    @Test func zeroDimension() throws {
        let error = failure(try patchedHeader("zero.nii", offset: 44, value: 0))  // dim[2]
        #expect(error?.kind == .invalidDimensions)
        #expect(error?.detail.contains("dimension 2") == true)
    }

    @Test("a qform_code or sform_code outside NIfTI's 0…5 is refused as a damaged header, not used or copied into the mask")
    func transformCodeOutsideNifti() throws {
        for (name, offset, value) in [("qform999.nii", 252, Int16(999)), ("sform-5.nii", 254, Int16(-5)), ("qform6.nii", 252, Int16(6))] {
            let error = failure(try patchedHeader(name, offset: offset, value: value))
            #expect(error?.kind == .invalidDimensions)
            #expect(error?.detail.contains("\(offset == 252 ? "qform_code" : "sform_code") is \(value), not a NIfTI transform code") == true, "\(error.map(String.init(describing:)) ?? "")")
        }
        // Every code NIfTI defines is read.
        for code in Int16(0)...5 { #expect(throws: Never.self) { try NiftiReader.read(from: try patchedHeader("sform\(code).nii", offset: 254, value: code)) } }
    }

    @Test func negativeDimension() throws {
        #expect(failure(try patchedHeader("negative.nii", offset: 46, value: -5))?.kind == .invalidDimensions)
    }

    @Test func impossibleRank() throws {
        #expect(failure(try patchedHeader("rank.nii", offset: 40, value: 9))?.kind == .invalidDimensions)
        #expect(failure(try patchedHeader("rank0.nii", offset: 40, value: 0))?.kind == .invalidDimensions)
    }

    @Test func dimensionAbove1024() throws {
        let error = failure(try patchedHeader("wide.nii", offset: 42, value: 2000))
        #expect(error?.kind == .tooLarge)
        #expect(error?.detail.contains("1024") == true)
    }

    @Test func dataAboveTwoGigabytes() throws {
        var data = try bytes(goodPlain)
        // 1024³ float32 = 4 GiB: every axis within the limit, the total above it.
        for (offset, value) in [(40, Int16(3)), (42, 1024), (44, 1024), (46, 1024), (70, 16), (72, 32)] {
            withUnsafeBytes(of: value.littleEndian) { data.replaceSubrange(offset..<offset + 2, with: $0) }
        }
        let error = failure(try write(data, "huge.nii"))
        #expect(error?.kind == .tooLarge)
    }

    @Test("more voxels than 512³ is refused from the header, even when the bytes are within their limit")
    func voxelsAbove512Cubed() throws {
        var data = try bytes(goodPlain)
        // 1024 × 1024 × 200 uint8: 200 MiB of data, every axis within its limit, 209 M voxels.
        for (offset, value) in [(40, Int16(3)), (42, 1024), (44, 1024), (46, 200), (70, 2), (72, 8)] {
            withUnsafeBytes(of: value.littleEndian) { data.replaceSubrange(offset..<offset + 2, with: $0) }
        }
        let error = failure(try write(data, "many-voxels.nii"))
        #expect(error?.kind == .tooLarge)
        #expect(error?.detail.contains("209715200 voxels") == true && error?.detail.contains("512³") == true, "\(String(describing: error))")
        // At the limit the header passes, and the read fails later, on the data that is not there.
        var limits = NiftiReader.Limits()
        limits.maximumVoxels = 1024 * 1024 * 200
        let atLimit = try write(data, "at-limit.nii")
        #expect(throws: NiftiError.self) { try NiftiReader.read(from: atLimit, limits: limits) }
        do { _ = try NiftiReader.read(from: atLimit, limits: limits) } catch let error as NiftiError { #expect(error.kind == .truncatedData) }
    }

    @Test func fourDimensionalWhereThreeDimensionalIsRequired() throws {
        let path = Fixtures.path("nifti/\(NiftiFixtureExpectations.shared.invalid.fourDimensional)")
        let error = failure(path)
        #expect(error?.kind == .notThreeDimensional)
        #expect(error?.detail.contains("3 x 3 x 3 x 2") == true)
        // Readable when a 3D image is not required (brainseg inspect).
        let image = try NiftiReader.read(from: path, requireThreeDimensional: false)
        #expect(image.header.dims == [3, 3, 3, 2])
        #expect(image.voxels.count == 54)
    }

    @Test func nonFiniteVoxels() throws {
        let path = Fixtures.path("nifti/\(NiftiFixtureExpectations.shared.invalid.nonfinite)")
        let error = failure(path)
        #expect(error?.kind == .nonFiniteVoxels)
        #expect(error?.detail.hasPrefix("2 voxels") == true)
        let inspected = try NiftiReader.read(from: path, allowNonFinite: true)
        #expect(VoxelStatistics(inspected.voxels).nonFiniteCount == 2)
    }

    @Test func float64BeyondTheFloat32RangeIsNamedAsSuch() throws {
        // goodPlain's header as float64 (DT_FLOAT64 = 64, bitpix 64), every voxel 1e300: finite
        // in the file, infinite as float32.
        var data = try bytes(goodPlain)
        let dims = (0..<3).map { axis in Int(data.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 42 + 2 * axis, as: Int16.self) }) }
        let offset = Int(data.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 108, as: Float.self) })
        withUnsafeBytes(of: Int16(64).littleEndian) { data.replaceSubrange(70..<72, with: $0) }
        withUnsafeBytes(of: Int16(64).littleEndian) { data.replaceSubrange(72..<74, with: $0) }
        data = Array(data[0..<offset])
        for _ in 0..<dims.reduce(1, *) { withUnsafeBytes(of: (1e300 as Double).bitPattern.littleEndian) { data.append(contentsOf: $0) } }
        let error = failure(try write(data, "float64-huge.nii"))
        #expect(error?.kind == .nonFiniteVoxels)
        #expect(error?.detail.contains("beyond the float32 range") == true, "\(String(describing: error))")
    }

    @Test func unsupportedDatatype() throws {
        // DT_COMPLEX64 = 32, bitpix 64.
        var data = try bytes(goodPlain)
        withUnsafeBytes(of: Int16(32).littleEndian) { data.replaceSubrange(70..<72, with: $0) }
        withUnsafeBytes(of: Int16(64).littleEndian) { data.replaceSubrange(72..<74, with: $0) }
        let error = failure(try write(data, "complex.nii"))
        #expect(error?.kind == .unsupportedDatatype)
        #expect(error?.detail.lowercased().contains("complex") == true)
    }

    @Test func directoryIsNotAFile() {
        #expect(failure(scratch.path)?.kind == .notRegularFile)
    }

    @Test(.timeLimit(.minutes(30)))
    func fifoIsRefusedWithoutBlocking() throws {
        let path = scratch.file("pipe.nii.gz")
        #expect(mkfifo(path, 0o600) == 0)
        let error = failure(path)
        #expect(error?.kind == .notRegularFile)
        #expect(error?.detail.contains("FIFO") == true)
    }

    @Test func unreadableFile() throws {
        guard geteuid() != 0 else { return }  // root reads everything; nothing to check then
        let path = try write(try bytes(goodPlain), "locked.nii")
        chmod(path, 0)
        #expect(failure(path)?.kind == .unreadable)
    }
}
