// The DICOM PS3.15 Basic Application Level Confidentiality Profile (Annex E, table E.1-1, 2024b), as data: each
// attribute the profile names, with the action of its "Basic Profile" column. deidentify.ts applies this table and
// nothing else decides per attribute; a change to what is removed or kept is a change to this file.
//
// Action codes, as the standard writes them:
//   X  remove            Z  zero length (keep the attribute, empty)       D  a dummy value of the same VR
//   U  a new UID, the same within the study (so series, instances and references still link)
//   K  keep (listed where the marketplace relies on an attribute the profile leaves alone)
//   X/Z, X/D, Z/D, X/Z/D, X/Z/U*  compounds; PROFILE_RESOLUTION says which of their choices we take.

export type ProfileCode = 'X' | 'Z' | 'D' | 'U' | 'K' | 'X/Z' | 'X/D' | 'Z/D' | 'X/Z/D' | 'X/Z/U*';

/** What deidentify.ts does to one attribute: a compound code resolved to one of these. */
export type Action = 'remove' | 'empty' | 'dummy' | 'uid' | 'keep' | 'clean-items';

/**
 * The choice taken for each code. Compounds keep the attribute (empty or dummy) rather than remove it, so a
 * type 1 or 2 attribute of the image's IOD stays present; X/Z/U* sequences (Referenced/Source Image) stay, their
 * items cleaned by this same table (their UIDs remapped, so the references still resolve within the study).
 */
export const PROFILE_RESOLUTION: Readonly<Record<ProfileCode, Action>> = {
  X: 'remove',
  Z: 'empty',
  D: 'dummy',
  U: 'uid',
  K: 'keep',
  'X/Z': 'empty',
  'X/D': 'dummy',
  'Z/D': 'dummy',
  'X/Z/D': 'empty',
  'X/Z/U*': 'clean-items',
};

/**
 * Dates (DA, DT) under an action other than remove are shifted by the study's offset (the profile's "Retain
 * Longitudinal Temporal Information with Modified Dates" option, DCM 113107), or, with `dates: 'remove'`, follow
 * their action (a dummy date is 19000101). Times (TM) always follow their action.
 */
export const DUMMY_BY_VR: Readonly<Record<string, string>> = {
  DA: '19000101',
  DT: '19000101000000',
  TM: '000000',
  PN: 'ANONYMIZED',
  LO: 'ANONYMIZED',
  SH: 'ANONYMIZED',
  CS: 'ANONYMIZED',
  LT: 'ANONYMIZED',
  ST: 'ANONYMIZED',
  UT: 'ANONYMIZED',
  AE: 'ANONYMIZED',
};

export interface ProfileEntry {
  /** group and element in upper-case hex; `xx` in the group stands for any repeating group (50xx curves, 60xx overlays) */
  tag: string;
  keyword: string;
  code: ProfileCode;
}

const T = (tag: string, keyword: string, code: ProfileCode): ProfileEntry => ({ tag, keyword, code });

export const BASIC_PROFILE: readonly ProfileEntry[] = [
  // patient
  T('00100010', 'PatientName', 'Z'),
  T('00100020', 'PatientID', 'Z/D'),
  T('00100021', 'IssuerOfPatientID', 'X'),
  T('00100030', 'PatientBirthDate', 'Z'),
  T('00100032', 'PatientBirthTime', 'X'),
  T('00100040', 'PatientSex', 'Z'),
  T('00100050', 'PatientInsurancePlanCodeSequence', 'X'),
  T('00100101', 'PatientPrimaryLanguageCodeSequence', 'X'),
  T('00100102', 'PatientPrimaryLanguageModifierCodeSequence', 'X'),
  T('00101000', 'OtherPatientIDs', 'X'),
  T('00101001', 'OtherPatientNames', 'X'),
  T('00101002', 'OtherPatientIDsSequence', 'X'),
  T('00101005', 'PatientBirthName', 'X'),
  T('00101010', 'PatientAge', 'X'),
  T('00101020', 'PatientSize', 'X'),
  T('00101030', 'PatientWeight', 'X'),
  T('00101040', 'PatientAddress', 'X'),
  T('00101050', 'InsurancePlanIdentification', 'X'),
  T('00101060', 'PatientMotherBirthName', 'X'),
  T('00101080', 'MilitaryRank', 'X'),
  T('00101081', 'BranchOfService', 'X'),
  T('00101090', 'MedicalRecordLocator', 'X'),
  T('00101100', 'ReferencedPatientPhotoSequence', 'X'),
  T('00102000', 'MedicalAlerts', 'X'),
  T('00102110', 'Allergies', 'X'),
  T('00102150', 'CountryOfResidence', 'X'),
  T('00102152', 'RegionOfResidence', 'X'),
  T('00102154', 'PatientTelephoneNumbers', 'X'),
  T('00102155', 'PatientTelecomInformation', 'X'),
  T('00102160', 'EthnicGroup', 'X'),
  T('00102180', 'Occupation', 'X'),
  T('001021A0', 'SmokingStatus', 'X'),
  T('001021B0', 'AdditionalPatientHistory', 'X'),
  T('001021C0', 'PregnancyStatus', 'X'),
  T('001021D0', 'LastMenstrualDate', 'X'),
  T('001021F0', 'PatientReligiousPreference', 'X'),
  T('00102203', 'PatientSexNeutered', 'X/Z'),
  T('00102297', 'ResponsiblePerson', 'X'),
  T('00102299', 'ResponsibleOrganization', 'X'),
  T('00104000', 'PatientComments', 'X'),
  // clinical trial
  T('00120010', 'ClinicalTrialSponsorName', 'D'),
  T('00120020', 'ClinicalTrialProtocolID', 'D'),
  T('00120021', 'ClinicalTrialProtocolName', 'Z'),
  T('00120030', 'ClinicalTrialSiteID', 'Z'),
  T('00120031', 'ClinicalTrialSiteName', 'Z'),
  T('00120040', 'ClinicalTrialSubjectID', 'D'),
  T('00120042', 'ClinicalTrialSubjectReadingID', 'D'),
  T('00120050', 'ClinicalTrialTimePointID', 'Z'),
  T('00120051', 'ClinicalTrialTimePointDescription', 'X'),
  T('00120060', 'ClinicalTrialCoordinatingCenterName', 'Z'),
  T('00120071', 'ClinicalTrialSeriesID', 'X'),
  T('00120072', 'ClinicalTrialSeriesDescription', 'X'),
  T('00120081', 'ClinicalTrialProtocolEthicsCommitteeName', 'D'),
  T('00120082', 'ClinicalTrialProtocolEthicsCommitteeApprovalNumber', 'X'),
  // study, visit, request
  T('00080020', 'StudyDate', 'Z'),
  T('00080021', 'SeriesDate', 'X/D'),
  T('00080022', 'AcquisitionDate', 'X/Z'),
  T('00080023', 'ContentDate', 'Z/D'),
  T('00080024', 'OverlayDate', 'X'),
  T('00080025', 'CurveDate', 'X'),
  T('0008002A', 'AcquisitionDateTime', 'X/Z/D'),
  T('00080030', 'StudyTime', 'Z'),
  T('00080031', 'SeriesTime', 'X/D'),
  T('00080032', 'AcquisitionTime', 'X/Z'),
  T('00080033', 'ContentTime', 'Z/D'),
  T('00080034', 'OverlayTime', 'X'),
  T('00080035', 'CurveTime', 'X'),
  T('00080012', 'InstanceCreationDate', 'X/D'),
  T('00080013', 'InstanceCreationTime', 'X/Z/D'),
  T('00080014', 'InstanceCreatorUID', 'U'),
  T('00080015', 'InstanceCoercionDateTime', 'X'),
  T('00080017', 'AcquisitionUID', 'U'),
  T('00080018', 'SOPInstanceUID', 'U'),
  T('00080050', 'AccessionNumber', 'Z'),
  T('00080054', 'RetrieveAETitle', 'X'),
  T('00080055', 'StationAETitle', 'X'),
  T('00080058', 'FailedSOPInstanceUIDList', 'U'),
  T('00080080', 'InstitutionName', 'X/Z/D'),
  T('00080081', 'InstitutionAddress', 'X'),
  T('00080082', 'InstitutionCodeSequence', 'X/Z/D'),
  T('00080090', 'ReferringPhysicianName', 'Z'),
  T('00080092', 'ReferringPhysicianAddress', 'X'),
  T('00080094', 'ReferringPhysicianTelephoneNumbers', 'X'),
  T('00080096', 'ReferringPhysicianIdentificationSequence', 'X'),
  T('0008009C', 'ConsultingPhysicianName', 'Z'),
  T('0008009D', 'ConsultingPhysicianIdentificationSequence', 'X'),
  T('00080201', 'TimezoneOffsetFromUTC', 'X'),
  T('00081000', 'NetworkID', 'X'),
  T('00081010', 'StationName', 'X/Z/D'),
  T('00081030', 'StudyDescription', 'X'),
  T('0008103E', 'SeriesDescription', 'X'),
  T('00081040', 'InstitutionalDepartmentName', 'X'),
  T('00081041', 'InstitutionalDepartmentTypeCodeSequence', 'X'),
  T('00081048', 'PhysiciansOfRecord', 'X'),
  T('00081049', 'PhysiciansOfRecordIdentificationSequence', 'X'),
  T('00081050', 'PerformingPhysicianName', 'X'),
  T('00081052', 'PerformingPhysicianIdentificationSequence', 'X'),
  T('00081060', 'NameOfPhysiciansReadingStudy', 'X'),
  T('00081062', 'PhysiciansReadingStudyIdentificationSequence', 'X'),
  T('00081070', 'OperatorsName', 'X/Z/D'),
  T('00081072', 'OperatorIdentificationSequence', 'X/D'),
  T('00081080', 'AdmittingDiagnosesDescription', 'X'),
  T('00081084', 'AdmittingDiagnosesCodeSequence', 'X'),
  T('00081088', 'PyramidDescription', 'X'),
  T('00081110', 'ReferencedStudySequence', 'X/Z'),
  T('00081111', 'ReferencedPerformedProcedureStepSequence', 'X/Z/D'),
  T('00081120', 'ReferencedPatientSequence', 'X'),
  T('00081140', 'ReferencedImageSequence', 'X/Z/U*'),
  T('00081155', 'ReferencedSOPInstanceUID', 'U'),
  T('00081195', 'TransactionUID', 'U'),
  T('00082111', 'DerivationDescription', 'X'),
  T('00082112', 'SourceImageSequence', 'X/Z/U*'),
  T('00083010', 'IrradiationEventUID', 'U'),
  T('00084000', 'IdentifyingComments', 'X'),
  T('00200010', 'StudyID', 'Z'),
  T('0020000D', 'StudyInstanceUID', 'U'),
  T('0020000E', 'SeriesInstanceUID', 'U'),
  T('00200027', 'PyramidLabel', 'X'),
  T('00200052', 'FrameOfReferenceUID', 'U'),
  T('00200200', 'SynchronizationFrameOfReferenceUID', 'U'),
  T('00203401', 'ModifyingDeviceID', 'X'),
  T('00203403', 'ModifiedImageDate', 'X'),
  T('00203405', 'ModifiedImageTime', 'X'),
  T('00203406', 'ModifiedImageDescription', 'X'),
  T('00204000', 'ImageComments', 'X'),
  T('00209158', 'FrameComments', 'X'),
  T('00209161', 'ConcatenationUID', 'U'),
  T('00209164', 'DimensionOrganizationUID', 'U'),
  T('00284000', 'ImagePresentationComments', 'X'),
  T('00281199', 'PaletteColorLookupTableUID', 'U'),
  T('00281214', 'LargePaletteColorLookupTableUID', 'U'),
  T('00321000', 'ScheduledStudyStartDate', 'X'),
  T('00321001', 'ScheduledStudyStartTime', 'X'),
  T('00321010', 'ScheduledStudyStopDate', 'X'),
  T('00321011', 'ScheduledStudyStopTime', 'X'),
  T('00321020', 'ScheduledStudyLocation', 'X'),
  T('00321021', 'ScheduledStudyLocationAETitle', 'X'),
  T('00321030', 'ReasonForStudy', 'X'),
  T('00321032', 'RequestingPhysician', 'X'),
  T('00321033', 'RequestingService', 'X'),
  T('00321040', 'StudyArrivalDate', 'X'),
  T('00321041', 'StudyArrivalTime', 'X'),
  T('00321050', 'StudyCompletionDate', 'X'),
  T('00321051', 'StudyCompletionTime', 'X'),
  T('00321060', 'RequestedProcedureDescription', 'X/Z'),
  T('00321066', 'ReasonForVisit', 'X'),
  T('00321067', 'ReasonForVisitCodeSequence', 'X'),
  T('00321070', 'RequestedContrastAgent', 'X'),
  T('00324000', 'StudyComments', 'X'),
  T('00320012', 'StudyIDIssuer', 'X'),
  T('00320032', 'StudyVerifiedDate', 'X'),
  T('00320033', 'StudyVerifiedTime', 'X'),
  T('00320034', 'StudyReadDate', 'X'),
  T('00320035', 'StudyReadTime', 'X'),
  T('00380004', 'ReferencedPatientAliasSequence', 'X'),
  T('00380010', 'AdmissionID', 'X'),
  T('00380011', 'IssuerOfAdmissionID', 'X'),
  T('00380014', 'IssuerOfAdmissionIDSequence', 'X'),
  T('0038001A', 'ScheduledAdmissionDate', 'X'),
  T('0038001B', 'ScheduledAdmissionTime', 'X'),
  T('0038001C', 'ScheduledDischargeDate', 'X'),
  T('0038001D', 'ScheduledDischargeTime', 'X'),
  T('0038001E', 'ScheduledPatientInstitutionResidence', 'X'),
  T('00380020', 'AdmittingDate', 'X'),
  T('00380021', 'AdmittingTime', 'X'),
  T('00380030', 'DischargeDate', 'X'),
  T('00380032', 'DischargeTime', 'X'),
  T('00380040', 'DischargeDiagnosisDescription', 'X'),
  T('00380050', 'SpecialNeeds', 'X'),
  T('00380060', 'ServiceEpisodeID', 'X'),
  T('00380061', 'IssuerOfServiceEpisodeID', 'X'),
  T('00380062', 'ServiceEpisodeDescription', 'X'),
  T('00380064', 'IssuerOfServiceEpisodeIDSequence', 'X'),
  T('00380300', 'CurrentPatientLocation', 'X'),
  T('00380400', 'PatientInstitutionResidence', 'X'),
  T('00380500', 'PatientState', 'X'),
  T('00384000', 'VisitComments', 'X'),
  // procedure steps and orders
  T('00400001', 'ScheduledStationAETitle', 'X'),
  T('00400002', 'ScheduledProcedureStepStartDate', 'X'),
  T('00400003', 'ScheduledProcedureStepStartTime', 'X'),
  T('00400004', 'ScheduledProcedureStepEndDate', 'X'),
  T('00400005', 'ScheduledProcedureStepEndTime', 'X'),
  T('00400006', 'ScheduledPerformingPhysicianName', 'X'),
  T('00400007', 'ScheduledProcedureStepDescription', 'X'),
  T('00400009', 'ScheduledProcedureStepID', 'X'),
  T('0040000B', 'ScheduledPerformingPhysicianIdentificationSequence', 'X'),
  T('00400010', 'ScheduledStationName', 'X'),
  T('00400011', 'ScheduledProcedureStepLocation', 'X'),
  T('00400012', 'PreMedication', 'X'),
  T('00400241', 'PerformedStationAETitle', 'X'),
  T('00400242', 'PerformedStationName', 'X'),
  T('00400243', 'PerformedLocation', 'X'),
  T('00400244', 'PerformedProcedureStepStartDate', 'X'),
  T('00400245', 'PerformedProcedureStepStartTime', 'X'),
  T('00400250', 'PerformedProcedureStepEndDate', 'X'),
  T('00400251', 'PerformedProcedureStepEndTime', 'X'),
  T('00400253', 'PerformedProcedureStepID', 'X'),
  T('00400254', 'PerformedProcedureStepDescription', 'X'),
  T('00400275', 'RequestAttributesSequence', 'X'),
  T('00400280', 'CommentsOnThePerformedProcedureStep', 'X'),
  T('00400310', 'CommentsOnRadiationDose', 'X'),
  T('00400555', 'AcquisitionContextSequence', 'X/Z'),
  T('00401001', 'RequestedProcedureID', 'X'),
  T('00401002', 'ReasonForTheRequestedProcedure', 'X'),
  T('00401004', 'PatientTransportArrangements', 'X'),
  T('00401005', 'RequestedProcedureLocation', 'X'),
  T('00401010', 'NamesOfIntendedRecipientsOfResults', 'X'),
  T('00401011', 'IntendedRecipientsOfResultsIdentificationSequence', 'X'),
  T('00401101', 'PersonIdentificationCodeSequence', 'D'),
  T('00401102', 'PersonAddress', 'X'),
  T('00401103', 'PersonTelephoneNumbers', 'X'),
  T('00401104', 'PersonTelecomInformation', 'X'),
  T('00401400', 'RequestedProcedureComments', 'X'),
  T('00402001', 'ReasonForTheImagingServiceRequest', 'X'),
  T('00402004', 'IssueDateOfImagingServiceRequest', 'X'),
  T('00402005', 'IssueTimeOfImagingServiceRequest', 'X'),
  T('00402008', 'OrderEnteredBy', 'X'),
  T('00402009', 'OrderEntererLocation', 'X'),
  T('00402010', 'OrderCallbackPhoneNumber', 'X'),
  T('00402011', 'OrderCallbackTelecomInformation', 'X'),
  T('00402016', 'PlacerOrderNumberImagingServiceRequest', 'Z'),
  T('00402017', 'FillerOrderNumberImagingServiceRequest', 'Z'),
  T('00402400', 'ImagingServiceRequestComments', 'X'),
  T('00403001', 'ConfidentialityConstraintOnPatientDataDescription', 'X'),
  T('00404034', 'ScheduledHumanPerformersSequence', 'X'),
  T('00404035', 'ActualHumanPerformersSequence', 'X'),
  T('00404036', 'HumanPerformerOrganization', 'X'),
  T('00404037', 'HumanPerformerName', 'X'),
  T('00404050', 'PerformedProcedureStepStartDateTime', 'X'),
  T('00404051', 'PerformedProcedureStepEndDateTime', 'X'),
  T('0040A027', 'VerifyingOrganization', 'D'),
  T('0040A030', 'VerificationDateTime', 'D'),
  T('0040A073', 'VerifyingObserverSequence', 'D'),
  T('0040A075', 'VerifyingObserverName', 'D'),
  T('0040A078', 'AuthorObserverSequence', 'X'),
  T('0040A07A', 'ParticipantSequence', 'X'),
  T('0040A07C', 'CustodialOrganizationSequence', 'X'),
  T('0040A088', 'VerifyingObserverIdentificationCodeSequence', 'Z'),
  T('0040A123', 'PersonName', 'D'),
  T('0040A124', 'UID', 'U'),
  T('0040A171', 'ObservationUID', 'U'),
  T('0040A730', 'ContentSequence', 'D'),
  T('0040DB0C', 'TemplateExtensionOrganizationUID', 'U'),
  T('0040DB0D', 'TemplateExtensionCreatorUID', 'U'),
  // equipment and acquisition
  T('00181000', 'DeviceSerialNumber', 'X/Z/D'),
  T('00181002', 'DeviceUID', 'U'),
  T('00181004', 'PlateID', 'X'),
  T('00181005', 'GeneratorID', 'X'),
  T('00181007', 'CassetteID', 'X'),
  T('00181008', 'GantryID', 'X'),
  T('00181009', 'UniqueDeviceIdentifier', 'X'),
  T('0018100A', 'UDISequence', 'X'),
  T('00181012', 'DateOfSecondaryCapture', 'X'),
  T('00181014', 'TimeOfSecondaryCapture', 'X'),
  T('00181030', 'ProtocolName', 'X/D'),
  T('00181042', 'ContrastBolusStartTime', 'X'),
  T('00181043', 'ContrastBolusStopTime', 'X'),
  T('00180010', 'ContrastBolusAgent', 'Z/D'),
  T('00181200', 'DateOfLastCalibration', 'X'),
  T('00181201', 'TimeOfLastCalibration', 'X'),
  T('00181202', 'DateTimeOfLastCalibration', 'X'),
  T('00181203', 'CalibrationDateTime', 'Z'),
  T('00181204', 'DateOfManufacture', 'X'),
  T('00181205', 'DateOfInstallation', 'X'),
  T('00181400', 'AcquisitionDeviceProcessingDescription', 'X/D'),
  T('00184000', 'AcquisitionComments', 'X'),
  T('0018700A', 'DetectorID', 'X/D'),
  T('0018700C', 'DateOfLastDetectorCalibration', 'X/D'),
  T('0018700E', 'TimeOfLastDetectorCalibration', 'X/D'),
  T('00189074', 'FrameAcquisitionDateTime', 'D'),
  T('00189151', 'FrameReferenceDateTime', 'D'),
  T('00189185', 'RespiratoryMotionCompensationTechniqueDescription', 'X'),
  T('00189424', 'AcquisitionProtocolDescription', 'X'),
  T('00189516', 'StartAcquisitionDateTime', 'X/D'),
  T('00189517', 'EndAcquisitionDateTime', 'X/D'),
  T('00189701', 'DecayCorrectionDateTime', 'D'),
  T('00189937', 'RequestedSeriesDescription', 'X'),
  T('00181078', 'RadiopharmaceuticalStartDateTime', 'X'),
  T('00181072', 'RadiopharmaceuticalStartTime', 'X'),
  T('00181079', 'RadiopharmaceuticalStopDateTime', 'X'),
  T('00181073', 'RadiopharmaceuticalStopTime', 'X'),
  T('00185011', 'TransducerIdentificationSequence', 'X'),
  T('00182042', 'TargetUID', 'U'),
  T('00640003', 'SourceFrameOfReferenceUID', 'U'),
  T('00620021', 'TrackingUID', 'U'),
  // documents, annotations, signatures, icons
  T('00420011', 'EncapsulatedDocument', 'D'),
  T('00700001', 'GraphicAnnotationSequence', 'D'),
  T('00700084', 'ContentCreatorName', 'Z/D'),
  T('00700086', 'ContentCreatorIdentificationCodeSequence', 'X'),
  T('00880140', 'StorageMediaFileSetUID', 'U'),
  T('00880200', 'IconImageSequence', 'X'),
  T('00880904', 'TopicTitle', 'X'),
  T('00880906', 'TopicSubject', 'X'),
  T('00880910', 'TopicAuthor', 'X'),
  T('00880912', 'TopicKeywords', 'X'),
  T('04000100', 'DigitalSignatureUID', 'U'),
  T('04000402', 'ReferencedDigitalSignatureSequence', 'X'),
  T('04000403', 'ReferencedSOPInstanceMACSequence', 'X'),
  T('04000404', 'MAC', 'X'),
  T('04000550', 'ModifiedAttributesSequence', 'X'),
  T('04000561', 'OriginalAttributesSequence', 'X'),
  T('20300020', 'TextString', 'X'),
  T('40000010', 'Arbitrary', 'X'),
  T('40004000', 'TextComments', 'X'),
  T('40080042', 'ResultsIDIssuer', 'X'),
  T('4008010C', 'InterpretationAuthor', 'X'),
  T('40084000', 'ResultsComments', 'X'),
  T('FFFAFFFA', 'DigitalSignaturesSequence', 'X'),
  T('FFFCFFFC', 'DataSetTrailingPadding', 'X'),
  T('50xx0000', 'CurveData', 'X'),
  T('60xx3000', 'OverlayData', 'X'),
  T('60xx4000', 'OverlayComments', 'X'),
  // the profile leaves these alone; listed because the marketplace's metadata is derived from them
  T('00080060', 'Modality', 'K'),
  T('00180015', 'BodyPartExamined', 'K'),
  T('00080016', 'SOPClassUID', 'K'),
];

/** Beyond the table, as the profile requires: every private attribute (odd group) is removed, creators included. */
export const REMOVE_PRIVATE_ATTRIBUTES = true;
/**
 * A person's name the table does not list (a PN attribute of some module it does not cover) is emptied: names are
 * the PHI that most often hides in attributes nobody expected, and the byte scan tests would not see an unknown one.
 */
export const EMPTY_UNLISTED_PERSON_NAMES = true;

/** The profile's entry for a tag (repeating groups 50xx/60xx matched by their mask), or undefined. */
export function profileEntryOf(tag: string): ProfileEntry | undefined {
  const exact = BY_TAG.get(tag);
  if (exact) return exact;
  const group = tag.slice(0, 2);
  if (group === '50' || group === '60')
    return BY_TAG.get(`${group}xx${tag.slice(4)}`) ?? (group === '50' ? BY_TAG.get('50xx0000') : undefined);
  return undefined;
}
const BY_TAG = new Map(BASIC_PROFILE.map((e) => [e.tag, e]));

// ---- SOP classes: which instances can be cleaned by this table at all ----

export type RefusalReason =
  | 'BURNED_IN_ANNOTATION'
  | 'SECONDARY_CAPTURE'
  | 'ENCAPSULATED_DOCUMENT'
  | 'STRUCTURED_REPORT'
  | 'PHOTOGRAPH'
  | 'UNSUPPORTED_SOP_CLASS'
  | 'MISSING_STUDY_UID'
  | 'NOT_DICOM';

export interface CleanableSopClass {
  name: string;
  /** modalities whose images often carry burned-in text: refused unless BurnedInAnnotation says NO explicitly */
  burnedInMustBeNo?: true;
}

/** Image storage SOP classes whose identifying content lives in the headers only (cleaned by the table above). */
export const CLEANABLE_SOP_CLASSES: Readonly<Record<string, CleanableSopClass>> = {
  '1.2.840.10008.5.1.4.1.1.1': { name: 'Computed Radiography Image Storage' },
  '1.2.840.10008.5.1.4.1.1.1.1': { name: 'Digital X-Ray Image Storage - For Presentation' },
  '1.2.840.10008.5.1.4.1.1.1.1.1': { name: 'Digital X-Ray Image Storage - For Processing' },
  '1.2.840.10008.5.1.4.1.1.1.2': { name: 'Digital Mammography X-Ray Image Storage - For Presentation' },
  '1.2.840.10008.5.1.4.1.1.1.2.1': { name: 'Digital Mammography X-Ray Image Storage - For Processing' },
  '1.2.840.10008.5.1.4.1.1.2': { name: 'CT Image Storage' },
  '1.2.840.10008.5.1.4.1.1.2.1': { name: 'Enhanced CT Image Storage' },
  '1.2.840.10008.5.1.4.1.1.2.2': { name: 'Legacy Converted Enhanced CT Image Storage' },
  '1.2.840.10008.5.1.4.1.1.4': { name: 'MR Image Storage' },
  '1.2.840.10008.5.1.4.1.1.4.1': { name: 'Enhanced MR Image Storage' },
  '1.2.840.10008.5.1.4.1.1.4.3': { name: 'Enhanced MR Color Image Storage' },
  '1.2.840.10008.5.1.4.1.1.4.4': { name: 'Legacy Converted Enhanced MR Image Storage' },
  '1.2.840.10008.5.1.4.1.1.13.1.3': { name: 'Breast Tomosynthesis Image Storage' },
  '1.2.840.10008.5.1.4.1.1.20': { name: 'Nuclear Medicine Image Storage' },
  '1.2.840.10008.5.1.4.1.1.128': { name: 'Positron Emission Tomography Image Storage' },
  '1.2.840.10008.5.1.4.1.1.130': { name: 'Enhanced PET Image Storage' },
  '1.2.840.10008.5.1.4.1.1.6.1': { name: 'Ultrasound Image Storage', burnedInMustBeNo: true },
  '1.2.840.10008.5.1.4.1.1.3.1': { name: 'Ultrasound Multi-frame Image Storage', burnedInMustBeNo: true },
  '1.2.840.10008.5.1.4.1.1.12.1': { name: 'X-Ray Angiographic Image Storage', burnedInMustBeNo: true },
  '1.2.840.10008.5.1.4.1.1.12.1.1': { name: 'Enhanced XA Image Storage', burnedInMustBeNo: true },
};

/** SOP classes refused with a specific reason (matched by prefix): their identifying content is in pixels or free text. */
export const REFUSED_SOP_CLASSES: readonly { prefix: string; reason: RefusalReason }[] = [
  { prefix: '1.2.840.10008.5.1.4.1.1.7', reason: 'SECONDARY_CAPTURE' },
  { prefix: '1.2.840.10008.5.1.4.1.1.104.', reason: 'ENCAPSULATED_DOCUMENT' },
  { prefix: '1.2.840.10008.5.1.4.1.1.88.', reason: 'STRUCTURED_REPORT' },
  { prefix: '1.2.840.10008.5.1.4.1.1.77.1.', reason: 'PHOTOGRAPH' },
];

/** The sentence a person reads for each refusal (no PHI: only the SOP class and the reason). */
export const REFUSAL_SENTENCES: Readonly<Record<RefusalReason, string>> = {
  BURNED_IN_ANNOTATION:
    'The image has identifying text burned into its pixels (BurnedInAnnotation is not NO); it cannot be de-identified by header cleaning.',
  SECONDARY_CAPTURE: 'Secondary capture images are screenshots that often show names in their pixels; they are not shared.',
  ENCAPSULATED_DOCUMENT: 'Encapsulated documents (PDF, CDA) carry free text that cannot be cleaned reliably; they are not shared.',
  STRUCTURED_REPORT: 'Structured reports carry free text about the patient that cannot be cleaned reliably; they are not shared.',
  PHOTOGRAPH: 'Visible-light photographs may show the patient; they are not shared.',
  UNSUPPORTED_SOP_CLASS: 'This kind of DICOM object is not one the de-identification knows how to clean; it is not shared.',
  MISSING_STUDY_UID: 'The instance has no StudyInstanceUID, so it cannot be placed in a study.',
  NOT_DICOM: 'The file is not a readable DICOM Part-10 instance.',
};
