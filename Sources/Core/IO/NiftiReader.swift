import CNifti

/// Reads NIfTI-1 and NIfTI-2 single-file images (`.nii`, `.nii.gz`) into Float32.
///
/// libnifti interprets the header (qform/sform, units, byte order); the bytes are read through
/// zlib by `CompressedFileReader` so that every failure is detected and named: the header is
/// validated before any voxel is read, the voxel data must be complete, and the gzip trailer's
/// CRC must match. Nothing is printed: libnifti's own diagnostics are switched off and every
/// problem surfaces as a `NiftiError` that names the file.
public enum NiftiReader {
    /// Size limits that keep a hostile or broken header from exhausting memory.
    public struct Limits: Sendable {
        /// The largest size accepted for any axis.
        public var maximumDimension: Int = 1024
        /// The largest voxel data accepted, in bytes as stored.
        public var maximumDataBytes: Int = 1 << 31
        /// The most voxels accepted in one image: 512³. Segmenting a case takes 30–50 bytes of
        /// memory per voxel of its grid (four float volumes and their working copies; measured
        /// peaks: 1.1 GB for BraTS's 240×240×155, 4.1 GB for 480×480×310, 6.3 GB for
        /// 1024×1024×200 with a small brain). So a 1024³ case that passes every other check, a
        /// few megabytes once compressed, would need 30–50 GB: the daemon (MemoryMax=12G) would
        /// be killed on each attempt, five times before the case is set aside, holding up every
        /// case behind it. At 512³, 4–7 GB.
        public var maximumVoxels: Int = 1 << 27
        /// The largest gap accepted between the header and the voxel data (header extensions).
        /// Real files carry at most a few kilobytes there (BraTS: up to 11 kB); a huge
        /// `vox_offset` would otherwise make the reader allocate and read that much first.
        public var maximumExtensionBytes: Int = 16 << 20
        public init() {}
    }

    /// Reads the image at `path`.
    ///
    /// - Parameters:
    ///   - requireThreeDimensional: refuse images with a non-singleton fourth or later axis.
    ///   - allowNonFinite: keep NaN/±Inf voxels instead of refusing the file (for inspection).
    /// - Throws: `NiftiError` for a missing, unreadable, non-NIfTI, truncated, corrupt,
    ///   oversized, wrongly-dimensioned or non-finite image.
    public static func read(
        from path: String, requireThreeDimensional: Bool = true, allowNonFinite: Bool = false,
        limits: Limits = .init()
    ) throws -> NiftiImage {
        silenceLibnifti()
        let reader = try CompressedFileReader(path: path)
        defer { reader.close() }

        // 348 bytes first; only a NIfTI-2 size field (540, either byte order) asks for the rest,
        // so that no voxel byte of a NIfTI-1 file is consumed as header.
        var headerBytes = [UInt8](repeating: 0, count: 348)
        var headerLength = try headerBytes.withUnsafeMutableBytes { try reader.read(into: $0, count: 348) }
        if headerLength == 348 {
            let sizeField = headerBytes.withUnsafeBytes { $0.loadUnaligned(as: Int32.self) }
            if sizeField == 540 || sizeField.byteSwapped == 540 {
                var rest = [UInt8](repeating: 0, count: 192)
                headerLength += try rest.withUnsafeMutableBytes { try reader.read(into: $0, count: 192) }
                headerBytes += rest
            }
        }
        var raw = cnifti_raw_header()
        guard cnifti_parse_raw_header(headerBytes, Int64(headerLength), &raw) == 0 else {
            if headerLength < 348 {
                throw NiftiError(.notNifti, path: path, "not a NIfTI file: only \(headerLength) bytes, a header needs 348")
            }
            if headerLength < 540, headerBytes.count >= 4,
               headerBytes.withUnsafeBytes({ [540, Int32(540).byteSwapped].contains($0.loadUnaligned(as: Int32.self)) }) {
                throw NiftiError(.truncatedData, path: path, "a NIfTI-2 header of 540 bytes, but the file ends after \(headerLength): truncated")
            }
            throw NiftiError(.notNifti, path: path, "not a NIfTI file: the header size field is neither 348 (NIfTI-1) nor 540 (NIfTI-2)")
        }
        try validateMagic(raw, headerBytes: headerBytes, path: path)

        let dims = try validatedDims(raw, path: path, requireThreeDimensional: requireThreeDimensional, limits: limits)
        guard let datatype = NiftiDatatype(rawValue: Int32(raw.datatype)) else {
            throw NiftiError(.unsupportedDatatype, path: path,
                             "unsupported datatype \(NiftiDatatype.describe(code: Int32(raw.datatype))); expected a real scalar type such as int16 or float32")
        }
        guard Int(raw.bitpix) == datatype.byteCount * 8 else {
            throw NiftiError(.notNifti, path: path,
                             "bitpix is \(raw.bitpix) but datatype \(datatype.name) has \(datatype.byteCount * 8) bits per voxel; the header is damaged")
        }
        let (voxelCount, countOverflow) = dims.reduce((1, false)) { partial, size in
            let product = partial.0.multipliedReportingOverflow(by: size)
            return (product.partialValue, partial.1 || product.overflow)
        }
        guard countOverflow || voxelCount <= limits.maximumVoxels else {
            let shown = dims.map(String.init).joined(separator: " x ")
            throw NiftiError(.tooLarge, path: path,
                             "declares \(shown) = \(voxelCount) voxels, more than the limit of \(limits.maximumVoxels) (512³); a case this large would need more memory than brainseg is given")
        }
        let (dataBytes, overflow) = voxelCount.multipliedReportingOverflow(by: datatype.byteCount)
        guard !countOverflow, !overflow, dataBytes <= limits.maximumDataBytes else {
            let shown = dims.map(String.init).joined(separator: " x ")
            throw NiftiError(.tooLarge, path: path, "declares \(shown) voxels of \(datatype.name), more than the \(limits.maximumDataBytes)-byte limit")
        }
        let voxelOffset = try validatedVoxelOffset(raw, path: path, limits: limits)

        guard let headerImage = headerBytes.withUnsafeBytes({ cnifti_image_from_header($0.baseAddress, Int64(headerLength), path) }) else {
            throw NiftiError(.notNifti, path: path, "libnifti rejected the header")
        }
        defer { nifti_image_free(headerImage) }
        let geometry = VolumeGeometry(image: headerImage)
        try validateGeometry(geometry, raw: raw, path: path)
        let description = withUnsafeBytes(of: headerImage.pointee.descrip) { bytes in
            String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        }

        // Bytes between the header and the data: extensions (NIfTI-1 also has a 4-byte extender).
        let extensionCount = try readExtensionCount(
            reader, alreadyRead: headerLength, voxelOffset: voxelOffset, swapped: raw.swapped != 0, path: path)

        var data = [UInt8](repeating: 0, count: dataBytes)
        let got = try data.withUnsafeMutableBytes { try reader.read(into: $0, count: dataBytes) }
        guard got == dataBytes else {
            throw NiftiError(.truncatedData, path: path,
                             "the header declares \(dataBytes) bytes of voxel data at offset \(voxelOffset) but the file holds only \(got) of them: truncated")
        }
        let fileLength = try reader.verifyToEnd(uncompressedLength: Int64(voxelOffset) + Int64(dataBytes))
        // More data after the declared voxels than the voxels themselves: the dims undercount the
        // image (a 3D file whose dim[0] says 1 or 2 would be read as its first row or slice).
        // Padding of a few kilobytes is left alone.
        let trailing = fileLength - Int64(voxelOffset) - Int64(dataBytes)
        if trailing >= max(Int64(dataBytes), 4096) {
            let shown = dims.map(String.init).joined(separator: " x ")
            throw NiftiError(.invalidDimensions, path: path,
                             "the header declares \(shown) voxels (dim[0] = \(dims.count)), \(dataBytes) bytes, but \(trailing) more bytes follow them: the dims in the header are likely wrong")
        }

        let header = NiftiHeaderInfo(
            niftiVersion: Int(raw.version), isByteSwapped: raw.swapped != 0, isCompressed: reader.isCompressed,
            dims: dims, datatype: datatype, scaleSlope: raw.scl_slope, scaleIntercept: raw.scl_inter,
            voxelOffset: voxelOffset, extensionCount: extensionCount, description: description)
        let scaling = header.appliesScaling ? (slope: raw.scl_slope, intercept: raw.scl_inter.isFinite ? raw.scl_inter : 0) : nil
        var voxels = [Float](repeating: 0, count: voxelCount)
        data.withUnsafeBytes { bytes in
            voxels.withUnsafeMutableBufferPointer { output in
                datatype.convert(bytes, count: voxelCount, swapped: raw.swapped != 0, scaling: scaling, into: output)
            }
        }
        if !allowNonFinite {
            let nonFinite = voxels.withUnsafeBufferPointer { $0.reduce(0) { $0 + ($1.isFinite ? 0 : 1) } }
            if nonFinite > 0 {
                // float64 (or scaled) values beyond ±3.4e38 become infinite as float32: say so.
                let range = datatype == .float64 || scaling != nil ? ", or beyond the float32 range (±3.4e38)" : ""
                throw NiftiError(.nonFiniteVoxels, path: path, nonFinite == 1 ? "1 voxel is NaN or infinite\(range)" : "\(nonFinite) voxels are NaN or infinite\(range)")
            }
        }
        return NiftiImage(path: path, header: header, geometry: geometry, voxels: voxels)
    }

    /// libnifti prints diagnostics to stderr unless its debug level is 0; the daemon's logs must
    /// stay structured, and every problem is reported through `NiftiError` instead.
    static func silenceLibnifti() { _ = silenced }
    private static let silenced: Void = { nifti_set_debug_level(0) }()

    /// The magic string: `n+1\0` (NIfTI-1) or `n+2\0\r\n\u{1A}\n` (NIfTI-2), all bytes of it.
    /// `ni1`/`ni2` are the two-file variants, refused with their own kind.
    private static func validateMagic(_ raw: cnifti_raw_header, headerBytes: [UInt8], path: String) throws {
        // NIfTI-1 keeps its 4 magic bytes at offset 344, NIfTI-2 its 8 at offset 4.
        let magic = raw.version == 1 ? Array(headerBytes[344..<348]) : Array(headerBytes[4..<12])
        let prefix = String(decoding: magic.prefix(3), as: UTF8.self)
        switch prefix {
        case "n+1", "n+2": break
        case "ni1", "ni2":
            throw NiftiError(.unsupportedVariant, path: path, "two-file NIfTI (.hdr/.img) is not supported; convert it to a single .nii or .nii.gz")
        default:
            throw NiftiError(.notNifti, path: path, "not a NIfTI file: magic is not \"n+1\" or \"n+2\" (an Analyze 7.5 header?)")
        }
        let expected: [UInt8] = raw.version == 1 ? [0x6E, 0x2B, 0x31, 0] : [0x6E, 0x2B, 0x32, 0, 0x0D, 0x0A, 0x1A, 0x0A]
        guard Array(magic.prefix(expected.count)) == expected else {
            let shown = magic.prefix(expected.count).map { String(format: "%02x", $0) }.joined(separator: " ")
            throw NiftiError(.notNifti, path: path, "corrupt NIfTI-\(raw.version) magic (bytes \(shown)); the header is damaged")
        }
    }

    /// `vox_offset` as a byte count: finite, a whole number, past the header and its 4-byte
    /// extender (352 for NIfTI-1, 544 for NIfTI-2), and at most `maximumExtensionBytes` beyond it.
    /// Checked before any conversion to `Int`, so NaN, ±Inf and huge values are errors, not traps.
    private static func validatedVoxelOffset(_ raw: cnifti_raw_header, path: String, limits: Limits) throws -> Int {
        let offset = raw.vox_offset
        let minimum = Int(raw.header_size) + 4
        let maximum = minimum + limits.maximumExtensionBytes
        guard offset.isFinite, offset == offset.rounded(), offset >= Double(minimum), offset <= Double(maximum) else {
            let shown = offset.isFinite && offset == offset.rounded() && abs(offset) < 1e18 ? String(Int64(offset)) : "\(offset)"
            throw NiftiError(.notNifti, path: path,
                             "invalid data offset vox_offset = \(shown): it must be a whole number of bytes from \(minimum) (header + extender) to \(maximum); the header is damaged")
        }
        return Int(offset)
    }

    /// Voxel sizes must be positive and finite, the transform codes NIfTI's own, and the affines
    /// finite: later stages divide by the spacing and resample through the affine.
    /// The voxel sizes are checked as written: libnifti silently replaces zero or negative
    /// ones by 1 in the qform, which would hide a damaged header. A negative one is refused too
    /// (NIfTI keeps axis flips in the qform's qfac and in the sform): accepted, it made the mask's
    /// header disagree with the source's, found only after the whole ensemble had run.
    private static func validateGeometry(_ geometry: VolumeGeometry, raw: cnifti_raw_header, path: String) throws {
        let written = withUnsafeBytes(of: raw.pixdim) { Array($0.bindMemory(to: Double.self)) }[1...3]
        guard written.allSatisfy({ $0.isFinite && $0 > 0 && $0 <= 1e6 }) else {
            let shown = written.map { "\($0)" }.joined(separator: ", ")
            throw NiftiError(.invalidDimensions, path: path,
                             "invalid voxel size pixdim[1…3] = \(shown): each must be a finite positive length (axis flips belong in the qform and sform)")
        }
        // NIFTI_XFORM_UNKNOWN (0) … NIFTI_XFORM_TEMPLATE_OTHER (5), as written. Any other code is
        // a damaged header: libnifti would use a qform coded 999 as if it were valid (and the mask
        // written from this grid would carry the code) and silently read a negative one as 0.
        let transformCodes = 0...5
        for (name, code) in [("qform_code", Int(raw.qform_code)), ("sform_code", Int(raw.sform_code))] where !transformCodes.contains(code) {
            throw NiftiError(.invalidDimensions, path: path,
                             "\(name) is \(code), not a NIfTI transform code (0 unknown, 1 scanner, 2 aligned, 3 Talairach, 4 MNI 152, 5 template); the header is damaged")
        }
        let affines = [geometry.qformMatrix] + (geometry.sformCode > 0 ? [geometry.sformMatrix] : [])
        guard affines.allSatisfy({ $0.allSatisfy(\.isFinite) }) else {
            throw NiftiError(.invalidDimensions, path: path, "the qform or sform holds NaN or infinite values; the header is damaged")
        }
    }

    private static func validatedDims(
        _ raw: cnifti_raw_header, path: String, requireThreeDimensional: Bool, limits: Limits
    ) throws -> [Int] {
        let declared = withUnsafeBytes(of: raw.dim) { Array($0.bindMemory(to: Int64.self)) }
        let rank = Int(declared[0])
        guard (1...7).contains(rank) else {
            throw NiftiError(.invalidDimensions, path: path, "invalid rank \(rank) in dim[0]; expected 1 to 7")
        }
        var dims = declared[1...rank].map { Int($0) }
        if let bad = dims.firstIndex(where: { $0 < 1 }) {
            throw NiftiError(.invalidDimensions, path: path, "dimension \(bad + 1) has size \(dims[bad]); sizes must be at least 1")
        }
        if let big = dims.firstIndex(where: { $0 > limits.maximumDimension }) {
            throw NiftiError(.tooLarge, path: path, "dimension \(big + 1) has size \(dims[big]), above the limit of \(limits.maximumDimension)")
        }
        while dims.count < 3 { dims.append(1) }
        if requireThreeDimensional, dims.dropFirst(3).contains(where: { $0 > 1 }) {
            let shown = dims.map(String.init).joined(separator: " x ")
            throw NiftiError(.notThreeDimensional, path: path, "expected a 3D image but found \(shown)")
        }
        return dims
    }

    /// Consumes the bytes between the header and `voxelOffset` and counts the header
    /// extensions there (NIfTI extender bytes, then esize/ecode records).
    private static func readExtensionCount(
        _ reader: CompressedFileReader, alreadyRead: Int, voxelOffset: Int, swapped: Bool, path: String
    ) throws -> Int {
        guard voxelOffset > alreadyRead else { return 0 }
        let gapLength = voxelOffset - alreadyRead
        var between = [UInt8](repeating: 0, count: gapLength)
        let got = try between.withUnsafeMutableBytes { try reader.read(into: $0, count: gapLength) }
        guard got == gapLength else {
            throw NiftiError(.truncatedData, path: path, "the file ends at byte \(alreadyRead + got), before the voxel data offset \(voxelOffset)")
        }
        guard between.count >= 4, between[0] != 0 else { return 0 }
        // The extender announces extensions, yet the data starts right after it: the file was
        // written with extensions and its vox_offset was changed, so the voxels read would be
        // the extensions' bytes and a shifted image.
        guard between.count >= 4 + 8 else {
            throw NiftiError(.notNifti, path: path,
                             "the header announces extensions (extender byte 1) but vox_offset = \(voxelOffset) leaves no room for them: the data offset is likely wrong")
        }
        var count = 0
        var offset = 4
        while offset + 8 <= between.count {
            var size = between.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: Int32.self) }
            if swapped { size = size.byteSwapped }
            guard size >= 8, offset + Int(size) <= between.count else { break }
            count += 1
            offset += Int(size)
        }
        return count
    }
}
