import { expect, it } from 'vitest';
import { Wallet, verifyTypedData } from 'ethers';
import { STUDY_ID_ISSUANCE_TYPES, issueStudyId, studyMarketDomain } from './study-id.js';
it('issueStudyId signs exactly the EIP-712 StudyIdIssuance that ethers signTypedData signs', async () => {
  const w = Wallet.createRandom();
  const m = '0x' + '12'.repeat(20),
    ro = '0x' + '34'.repeat(20),
    id = '0x' + 'ab'.repeat(32);
  const i = issueStudyId(w.privateKey, m, 31337, ro, id, 123n);
  const v = { studyId: id, ro, issuedUntil: 123n };
  expect(verifyTypedData(studyMarketDomain(m, 31337), STUDY_ID_ISSUANCE_TYPES, v, i.issuance)).toBe(w.address);
  expect(i.issuance).toBe(await w.signTypedData(studyMarketDomain(m, 31337), STUDY_ID_ISSUANCE_TYPES, v));
});
