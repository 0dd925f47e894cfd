import { registerEnumType } from '@nestjs/graphql';
import { MODALITIES, URGENCIES, enumObject } from '#domain';

// GraphQL enums shared by several features, derived from the domain constants
export const Modality = enumObject(MODALITIES);
export const Urgency = enumObject(URGENCIES);
registerEnumType(Modality, { name: 'Modality' });
registerEnumType(Urgency, { name: 'Urgency' });
