import type en from '../en/detail';

const m: Record<keyof typeof en, string> = {
};

export default m;
