-- The rows of a studio catalog (studio.db) as twinrig 0.1.0 wrote them at schema 4: two subjects,
-- the studio, technician and subject keys, one signed consent record, six audit entries and two
-- checkpoints (`sqlite3 studio.db ".dump --data-only"`). tests/store/queries_test.cc loads them
-- into a schema-4 catalog.
INSERT INTO studio_meta VALUES('studio_name','Compat Studio');
INSERT INTO subjects VALUES('SUB-000001','Ada Example','2026-12-03T16:27:32.368Z');
INSERT INTO subjects VALUES('SUB-000002','Bob','2026-12-03T16:27:40.586Z');
INSERT INTO public_keys VALUES('80b2bca9d8d10ccb','studio','studio','e4d2a9f1561752fd007821577ac00fbe334ec2696b378c4bdc9c89c766a45662','2026-12-03T16:27:10.907Z',NULL);
INSERT INTO public_keys VALUES('59023b3620c38c38','technician','tech1','810cfd4eae41841da4a7ca80cb86f2ab4c001abbb6c632cc9916a8ac421e6702','2026-12-03T16:27:23.544Z',NULL);
INSERT INTO public_keys VALUES('bc18d31df558f376','subject','SUB-000001','8514798325e223ac2f96a5ff4c790453e7a0a97215e79f5bf0239304536dacc1','2026-12-03T16:27:52.409Z',NULL);
INSERT INTO consent_records VALUES('urn:uuid:678d02ab-1472-4ae3-bf24-6d32a238e33a','S-20261128-0001','SUB-000001',1,'consent','d22e4011439b990b08a20e3e70598ffb0535f2a65322a4ac4da018d5ba6d2ef6','2026-12-03T16:27:52.793Z');
INSERT INTO audit_log VALUES(1,'{"at":"2026-12-03T16:27:10.951Z","event":"key.created","kid":"80b2bca9d8d10ccb","role":"studio"}','60a3c892320d9a1452c77fa319f84a78c60ebd4733dba87102d48b8ce48b673e');
INSERT INTO audit_log VALUES(2,'{"at":"2026-12-03T16:27:23.562Z","event":"key.created","kid":"59023b3620c38c38","owner":"tech1","role":"technician"}','32a6c80ebb94a8bf3bc28c5b7af271e74d0a59f8ead5c13049c2da44f1d2fab6');
INSERT INTO audit_log VALUES(3,'{"at":"2026-12-03T16:27:52.863Z","event":"record.created","record_id":"urn:uuid:678d02ab-1472-4ae3-bf24-6d32a238e33a","record_type":"consent","session_id":"S-20261128-0001","sha256":"d22e4011439b990b08a20e3e70598ffb0535f2a65322a4ac4da018d5ba6d2ef6","subject_id":"SUB-000001"}','ad2fbdc9d41db421268d24a76a48bcd0a7e703600fb1078332dc00b4976e6118');
INSERT INTO audit_log VALUES(4,'{"at":"2026-12-03T16:28:01.567Z","complete":false,"event":"record.signed","kid":"bc18d31df558f376","record_id":"urn:uuid:678d02ab-1472-4ae3-bf24-6d32a238e33a","record_type":"consent","role":"subject","session_id":"S-20261128-0001"}','2ea9ccd2e6450f81c0a715effe7ce8e5c48248ce87e937060e433416a55ff536');
INSERT INTO audit_log VALUES(5,'{"at":"2026-12-03T16:28:11.120Z","complete":false,"event":"record.signed","kid":"59023b3620c38c38","record_id":"urn:uuid:678d02ab-1472-4ae3-bf24-6d32a238e33a","record_type":"consent","role":"technician","session_id":"S-20261128-0001"}','0a90f2fd95d97cb3371af8a25123d13f620a547561dc18af518777b56b6b0941');
INSERT INTO audit_log VALUES(6,'{"at":"2026-12-03T16:28:20.871Z","complete":true,"event":"record.signed","kid":"80b2bca9d8d10ccb","record_id":"urn:uuid:678d02ab-1472-4ae3-bf24-6d32a238e33a","record_type":"consent","role":"studio","session_id":"S-20261128-0001"}','a50fbe1298cb6df8f14c1f2688b1db8c37c5f68910818f74b84036d9c96b9d7f');
INSERT INTO audit_checkpoints VALUES(1,6,'a50fbe1298cb6df8f14c1f2688b1db8c37c5f68910818f74b84036d9c96b9d7f','2026-12-03T16:28:20.947Z','80b2bca9d8d10ccb','eca345412261eff3ef712dab5ba0ef8d41cba3f41ebcffeab8b727bf39990d7833f6ac25824ba80cad23e26cb2518783c899c8ad3ee16449c4f52542387dd30a');
INSERT INTO audit_checkpoints VALUES(2,6,'a50fbe1298cb6df8f14c1f2688b1db8c37c5f68910818f74b84036d9c96b9d7f','2026-12-03T16:28:30.859Z','80b2bca9d8d10ccb','eca345412261eff3ef712dab5ba0ef8d41cba3f41ebcffeab8b727bf39990d7833f6ac25824ba80cad23e26cb2518783c899c8ad3ee16449c4f52542387dd30a');
