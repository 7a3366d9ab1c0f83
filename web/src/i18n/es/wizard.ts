import type en from '../en/wizard';

const m: Record<keyof typeof en, string> = {
};

export default m;
